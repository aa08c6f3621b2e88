"""What the account tests share: an app with chosen settings, sign-in helpers, TOTP codes,
the token in a mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pyotp
from fastapi import FastAPI

from orderly.container import Container
from orderly.core.config import Settings
from orderly.main import create_app
from tests.databases import empty_all_tables

TOKEN = "/api/v1/auth/token"
TOKEN_MFA = "/api/v1/auth/token/mfa"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with these settings changed, and a client for it (tables emptied after)."""
    app: FastAPI = create_app(settings.model_copy(update=changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client
        finally:
            await empty_all_tables(app.state.container.engine)


def container_of(client: httpx.AsyncClient) -> Container:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    result: Container = app.state.container
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def log_in(client: httpx.AsyncClient, email_address: str, password: str) -> httpx.Response:
    return await client.post(TOKEN, data={"username": email_address, "password": password})


def totp_code(secret: str, *, steps_ago: int = 0) -> str:
    """The code of the current 30 s step, or of an earlier one (each works once)."""
    at = datetime.now(UTC) - timedelta(seconds=30 * steps_ago)
    return pyotp.TOTP(secret).at(at)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def token_in(message: EmailMessage) -> str:
    """The token a mail carries: the indented line of the text part."""
    lines = [line.strip() for line in text_of(message).splitlines() if line.startswith("    ")]
    assert len(lines) == 1, text_of(message)
    return lines[0]
