"""Real processes for end-to-end tests: start, wait until they answer, stop; bounded waits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest

ORDERLY = Path(sys.executable).with_name("orderly")
WAIT = 45.0
CUSTOMER_PASSWORD = "a-long-passphrase"  # register_customer's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**overrides: str) -> dict[str, str]:
    """This environment without any ORDERLY_* setting of the developer's, plus overrides."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORDERLY_")}
    env.update(overrides)
    return env


class Process:
    def __init__(
        self,
        args: list[str],
        *,
        workdir: Path,
        env: dict[str, str],
        port: int = 0,
        ready_path: str = "/",
    ) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.ready_url = self.base + ready_path
        label = "-".join(Path(arg).stem for arg in args[:2])
        self.log = workdir / f"{label}-{port or uuid.uuid4().hex[:6]}.log"
        with self.log.open("ab") as log:
            # its own process group, so a test can kill it with all its children
            self.process = subprocess.Popen(  # noqa: S603 - our own entry points
                args, cwd=workdir, env=env, stdout=log, stderr=log, start_new_session=True
            )

    def kill_group(self) -> None:
        """SIGKILL the process and its children: no shutdown, no acknowledgements."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.ready_url}: process exited:\n{self.log.read_text()}")
            try:
                if httpx.get(self.ready_url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{self.ready_url} not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_orderly(workdir: Path, **settings: str) -> Process:
    port = free_port()
    env = clean_env(ORDERLY_PORT=str(port), **settings)
    server = Process(
        [str(ORDERLY), "serve"], workdir=workdir, env=env, port=port, ready_path="/health/ready"
    )
    server.wait_ready()
    return server


def start_fake_provider(workdir: Path, *extra: str) -> Process:
    port = free_port()
    provider = Process(
        [str(ORDERLY), "fake-provider", "--port", str(port), *extra],
        workdir=workdir,
        env=clean_env(),
        port=port,
        ready_path="/_health",
    )
    provider.wait_ready()
    return provider


def eventually(check: Callable[[], Any], what: str, wait: float = WAIT) -> Any:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"not within {wait}s: {what}")


def received(folder: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=default)
        for p in sorted(folder.glob("*.eml"))
    ]


class Stack:
    """API, relay and worker processes sharing one database, broker, provider and SMTP sink."""

    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        self.workdir = workdir
        self.settings = settings
        self.processes: list[Process] = []
        self.mail = workdir / "sink"
        sink_port = free_port()
        self.sink = self._start(
            [
                sys.executable,
                str(Path(__file__).parent / "smtp_sink.py"),
                "--port",
                str(sink_port),
                "--dir",
                str(self.mail),
            ]
        )
        self.provider = start_fake_provider(workdir, *settings.pop("provider_args", "").split())
        self.processes.append(self.provider)
        self.settings.update(
            ORDERLY_SMTP_HOST="127.0.0.1",
            ORDERLY_SMTP_PORT=str(sink_port),
            ORDERLY_SMTP_STARTTLS="false",
            ORDERLY_PAYMENT_PROVIDER_URL=self.provider.base,
            ORDERLY_SEED_DEMO_DATA="false",
            ORDERLY_AUTO_MIGRATE="false",
        )
        self.api = start_orderly(workdir, **self.settings)
        self.processes.append(self.api)
        self.relay = self._start([str(ORDERLY), "relay"])
        self.worker = self.start_worker()

    def _start(self, args: list[str], **extra: str) -> Process:
        process = Process(args, workdir=self.workdir, env=clean_env(**{**self.settings, **extra}))
        self.processes.append(process)
        return process

    def start_worker(
        self,
        concurrency: int = 1,
        extra: dict[str, str] | None = None,
        metrics_port: int | None = None,
    ) -> Process:
        metrics = ["--metrics-port", str(metrics_port)] if metrics_port else []
        return self._start(
            [
                str(ORDERLY),
                "worker",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"w{uuid.uuid4().hex[:6]}@%h",
                *metrics,
            ],
            **(extra or {}),
        )

    def start_api(self) -> Process:
        api = start_orderly(self.workdir, **self.settings)
        self.processes.append(api)
        return api

    def start_beat(
        self, extra: dict[str, str] | None = None, metrics_port: int | None = None
    ) -> Process:
        schedule = self.workdir / f"beat-{uuid.uuid4().hex[:6]}"
        metrics = ["--metrics-port", str(metrics_port)] if metrics_port else []
        return self._start(
            [str(ORDERLY), "beat", "--schedule", str(schedule), *metrics], **(extra or {})
        )

    def start_relay(self, metrics_port: int | None = None, **extra: str) -> Process:
        """With ``metrics_port``, the relay also samples the backlog every second."""
        metrics = ["--metrics-port", str(metrics_port), "--sample-interval", "1"]
        return self._start([str(ORDERLY), "relay", *(metrics if metrics_port else [])], **extra)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # -- a customer, through the API --------------------------------------------------------

    def customer(self, api: Process | None = None) -> dict[str, str]:
        return register_customer((api or self.api).base)

    def order(self, customer: dict[str, str], item_id: str, method: str = "pm_card_visa") -> str:
        body = {"lines": [{"item_id": item_id, "quantity": 1}], "payment_method": method}
        headers = {"Authorization": customer["Authorization"]}
        response = httpx.post(
            f"{self.api.base}/api/v1/orders", json=body, headers=headers, timeout=30
        )
        assert response.status_code == 201, response.text
        order_id: str = response.json()["id"]
        return order_id

    def status(self, customer: dict[str, str], order_id: str) -> str:
        headers = {"Authorization": customer["Authorization"]}
        answer = httpx.get(f"{self.api.base}/api/v1/orders/{order_id}", headers=headers, timeout=30)
        status: str = answer.json()["status"]
        return status

    def charges(self, order_id: str) -> int:
        stats = httpx.get(f"{self.provider.base}/_stats", timeout=10).json()
        count: int = stats["charges"].get(f"order-{order_id}-charge", 0)
        return count


def register_customer(base: str) -> dict[str, str]:
    """A new customer, registered and signed in through the API at ``base``: its ``email`` and
    the ``Authorization`` header of its access token (password ``CUSTOMER_PASSWORD``)."""
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=30) as http:
        http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": CUSTOMER_PASSWORD, "full_name": "Cus Tomer"},
        ).raise_for_status()
        token = http.post(
            "/api/v1/auth/token", data={"username": email, "password": CUSTOMER_PASSWORD}
        ).json()["access_token"]
    return {"email": email, "Authorization": f"Bearer {token}"}


def make_item(postgres_url: str, stock: int = 100) -> str:
    """An item straight through the service layer (admin work is not under test here)."""
    import asyncio

    from orderly.container import Container
    from orderly.core.config import Environment, Settings

    async def create() -> str:
        container = Container.build(
            Settings(_env_file=None, environment=Environment.TEST, database_url=postgres_url)
        )
        try:
            item = await container.catalog.create_item(
                sku=f"E2E-{uuid.uuid4().hex[:8]}",
                name="Kettle",
                price_minor=2999,
                currency="EUR",
                stock=stock,
            )
        finally:
            await container.close()
        return str(item.id)

    return asyncio.run(create())


def start_fake_receiver(workdir: Path, *extra: str) -> Process:
    """``orderly fake-receiver`` on a free port; ``POST /_control`` sets how it answers."""
    port = free_port()
    receiver = Process(
        [str(ORDERLY), "fake-receiver", "--port", str(port), *extra],
        workdir=workdir,
        env=clean_env(),
        port=port,
        ready_path="/_health",
    )
    receiver.wait_ready()
    return receiver
