"""Password reset and e-mail verification, through the outbox, the in-process job runner and
the mail folder, as `make run` delivers them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from orderly.core.config import Settings
from orderly.models import AccountToken, OutboxMessage
from tests.conftest import PASSWORD, assert_problem, make_account
from tests.integration.accounts import (
    ME,
    bearer,
    container_of,
    log_in,
    serving,
    token_in,
)
from tests.integration.test_jobs_embedded import mails as read_mails

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
VERIFY = "/api/v1/auth/verify-email"
NEW_PASSWORD = "another-long-passphrase"


@pytest.fixture
async def client(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    changes = {"embedded_jobs": True, "relay_interval": 0.05, "mail_dir": str(tmp_path)}
    async with serving(settings, **changes, rate_limit_account="1000/minute") as http:
        yield http


async def mail_to(folder: Path, address: str, subject: str, *, count: int = 1) -> str:
    """The token of the ``count``-th mail to ``address`` whose subject has ``subject``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [m for m in read_mails(folder) if m["To"] == address and subject in m["Subject"]]
        if len(found) >= count:
            return token_in(found[count - 1])
        await asyncio.sleep(0.05)
    pytest.fail(f"no mail {subject!r} to {address} within 20 s")


async def outbox_size(client: httpx.AsyncClient) -> int:
    async with container_of(client).session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_password_reset_by_mail(client: httpx.AsyncClient, tmp_path: Path) -> None:
    account = await make_account(container_of(client), "rita@example.com")
    answer = await client.post(RESET, json={"email": "Rita@Example.com"})
    assert answer.status_code == 202, answer.text
    token = await mail_to(tmp_path, "rita@example.com", "Reset")

    async with container_of(client).session_factory() as session:
        stored = list(await session.scalars(select(AccountToken.token_hash)))
    assert token not in stored  # only the hash is kept

    weak = await client.post(CONFIRM, json={"token": token, "password": "rita-rita-rita"})
    assert_problem(weak, 422, "password")  # the registration rules; the token is not used up
    done = await client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 204, done.text

    assert_problem(await client.get(ME, headers=account.headers), 401)  # every session ended
    assert_problem(await log_in(client, account.email, PASSWORD), 401)
    assert (await log_in(client, account.email, NEW_PASSWORD)).status_code == 200
    again = await client.post(CONFIRM, json={"token": token, "password": "yet-another-passphrase"})
    assert assert_problem(again, 422, "token")["code"] == "reset-token-invalid"


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await make_account(container_of(client), "kim@example.com")
    before = await outbox_size(client)
    known = await client.post(RESET, json={"email": "kim@example.com"})
    unknown = await client.post(RESET, json={"email": "nobody@example.com"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.headers["content-length"] == unknown.headers["content-length"]
    assert await outbox_size(client) == before + 2  # the same work for both: one event each
    await mail_to(tmp_path, "kim@example.com", "Reset")
    await asyncio.sleep(0.3)  # the unknown address's event is handled too: no mail follows
    assert [m["To"] for m in read_mails(tmp_path) if "Reset" in m["Subject"]] == ["kim@example.com"]


async def test_an_expired_or_forged_reset_token_is_refused(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await make_account(container_of(client), "old@example.com")
    await client.post(RESET, json={"email": "old@example.com"})
    token = await mail_to(tmp_path, "old@example.com", "Reset")
    async with container_of(client).session_factory() as session:
        half_hour_ago = datetime.now(UTC) - timedelta(minutes=30, seconds=1)
        await session.execute(update(AccountToken).values(expires_at=half_hour_ago))
        await session.commit()
    expired = await client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})
    assert "expired" in assert_problem(expired, 422, "token")["detail"]
    forged = await client.post(CONFIRM, json={"token": "x" * 43, "password": NEW_PASSWORD})
    assert_problem(forged, 422, "token")
    assert_problem(await client.post(CONFIRM, json={"token": token}), 422, "password")
    assert (await log_in(client, "old@example.com", PASSWORD)).status_code == 200


async def test_email_verification_and_the_order_rule(settings: Settings, tmp_path: Path) -> None:
    changes = {"embedded_jobs": True, "relay_interval": 0.05, "mail_dir": str(tmp_path)}
    async with serving(settings, **changes, require_email_verification=True) as client:
        signed_up = await client.post(
            "/api/v1/auth/register",
            json={"email": "vera@example.com", "password": PASSWORD, "full_name": "Vera"},
        )
        assert signed_up.json()["email_verified"] is False
        tokens = (await log_in(client, "vera@example.com", PASSWORD)).json()
        headers = bearer(tokens["access_token"])
        order = {"lines": [{"item_id": "00000000-0000-4000-8000-000000000000", "quantity": 1}]}
        refused = await client.post("/api/v1/orders", json=order, headers=headers)
        assert assert_problem(refused, 403)["code"] == "email-not-verified"

        first = await mail_to(tmp_path, "vera@example.com", "Welcome")
        resent = await client.post(f"{VERIFY}/resend", headers=headers)
        assert resent.status_code == 202
        await asyncio.sleep(0.3)  # within a minute of the first: no second mail (no bombing)
        assert len([m for m in read_mails(tmp_path) if m["To"] == "vera@example.com"]) == 1

        assert_problem(await client.post(VERIFY, json={"token": "y" * 43}), 422, "token")
        verified = await client.post(VERIFY, json={"token": first})
        assert verified.status_code == 200, verified.text
        assert verified.json()["email_verified"] is True
        assert_problem(await client.post(VERIFY, json={"token": first}), 422, "token")
        again = await client.post(f"{VERIFY}/resend", headers=headers)
        assert assert_problem(again, 409)["code"] == "email-already-verified"
        placed = await client.post("/api/v1/orders", json=order, headers=headers)
        assert placed.status_code != 403  # past the rule (the made-up item is then refused)
