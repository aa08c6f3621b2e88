"""Browser tests: Playwright (pytest-playwright-asyncio, on this suite's session event loop)
driving Debian's chromium against a real ``orderly serve``. `make test` installs chromium
with apt-get when /usr/bin/chromium is missing (the Makefile's ``chromium`` target)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request

from tests.processes import Process, start_orderly

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "panel-passphrase-7"
CUSTOMER_PASSWORD = "a-long-passphrase"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (make chromium)")
    return {"executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """orderly serve on a fresh SQLite database with the demo catalog and the admin."""
    workdir = tmp_path_factory.mktemp("browser")
    process = start_orderly(
        workdir,
        ORDERLY_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'orderly.db'}",
        ORDERLY_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ORDERLY_ENVIRONMENT="development",
        ORDERLY_PUBLIC_URL="http://127.0.0.1:1",  # not this server: its own origin must do
    )
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Console:
    """What the pages said: console messages and uncaught errors."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            self.messages.append(f"{message.type}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m or "Refused to" in m]


@pytest.fixture(scope="module")
def console() -> Console:
    return Console()


async def open_page(browser: Browser, console: Console, server: Process) -> tuple[Page, list[str]]:
    """A page in a new context whose console is watched, and the list of every URL it
    requests (``foreign`` tells which came from elsewhere than ``server``)."""
    context = await browser.new_context()
    page = await context.new_page()
    console.watch(page)
    requested: list[str] = []

    def on_request(request: Request) -> None:
        requested.append(request.url)

    page.on("request", on_request)
    return page, requested


def foreign(requested: list[str], server: Process) -> list[str]:
    """The requested URLs not served by ``server`` (``data:`` and ``blob:`` are the page's own)."""
    return [url for url in requested if not url.startswith((server.base, "data:", "blob:"))]


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/admin/login")
    await page.fill("input[name=username]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


@pytest.fixture(scope="module")
async def admin_page(browser: Browser, server: Process, console: Console) -> AsyncIterator[Page]:
    """One signed-in admin for the module (the login budget is 5 a minute per address)."""
    context: BrowserContext = await browser.new_context()
    page = await context.new_page()
    console.watch(page)
    await sign_in(page, server.base, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert page.url == f"{server.base}/admin/", await page.content()
    yield page
    await context.close()


@dataclass
class Customer:
    email: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
async def customer(server: Process) -> Customer:
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        registered = await http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": CUSTOMER_PASSWORD, "full_name": "Cus Tomer"},
        )
        assert registered.status_code == 201, registered.text
        token = await http.post(
            "/api/v1/auth/token", data={"username": email, "password": CUSTOMER_PASSWORD}
        )
    return Customer(email, {"Authorization": f"Bearer {token.json()['access_token']}"})
