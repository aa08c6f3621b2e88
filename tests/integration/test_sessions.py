"""Sessions: refresh rotation and reuse detection, logging out, and the per-account lockout."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from orderly.core.config import Settings
from orderly.models import AuthSession, User
from tests.conftest import PASSWORD, Account, assert_problem, make_account
from tests.integration.accounts import (
    ME,
    REFRESH,
    bearer,
    container_of,
    log_in,
    serving,
)

ORDERS = "/api/v1/orders"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def sessions_of(client: httpx.AsyncClient, account: Account) -> list[AuthSession]:
    async with container_of(client).session_factory() as session:
        found = await session.scalars(
            select(AuthSession).where(AuthSession.user_id == account.user.id)
        )
        return list(found)


async def test_refresh_rotates_and_a_reused_token_revokes_the_session(settings: Settings) -> None:
    async with serving(settings) as client:
        account = await make_account(container_of(client), "rosa@example.com")
        first = await refresh(client, account.refresh_token)
        assert first.status_code == 200, first.text
        rotated = first.json()
        assert rotated["refresh_token"] != account.refresh_token
        assert (await client.get(ME, headers=bearer(rotated["access_token"]))).status_code == 200

        # The thief replays the old refresh token: refused, and the whole family ends.
        body = assert_problem(await refresh(client, account.refresh_token), 401)
        assert body["code"] == "refresh-token-reused"
        assert_problem(await refresh(client, rotated["refresh_token"]), 401)
        assert_problem(await client.get(ME, headers=bearer(rotated["access_token"])), 401)
        [session] = await sessions_of(client, account)
        assert session.revoked_reason == "refresh-token-reused"
        assert len(session.refresh_token_hash) == 64  # a hash, never the token
        assert account.refresh_token not in session.refresh_token_hash

        # Another sign-in of the same account is its own family, untouched.
        again = await log_in(client, account.email, PASSWORD)
        assert (
            await client.get(ME, headers=bearer(again.json()["access_token"]))
        ).status_code == 200


async def test_two_concurrent_refreshes_with_one_token_leave_one_winner(settings: Settings) -> None:
    async with serving(settings) as client:
        account = await make_account(container_of(client), "ravi@example.com")
        answers = await asyncio.gather(*(refresh(client, account.refresh_token) for _ in range(2)))
        assert sorted(a.status_code for a in answers) == [200, 401]


async def test_logout_ends_this_session_only(settings: Settings) -> None:
    async with serving(settings) as client:
        account = await make_account(container_of(client), "lou@example.com")
        other = (await log_in(client, account.email, PASSWORD)).json()
        response = await client.post("/api/v1/auth/logout", headers=account.headers)
        assert response.status_code == 204, response.text
        assert_problem(await client.get(ME, headers=account.headers), 401)
        # The order list checks the session with its own lighter query: refused alike.
        assert_problem(await client.get(ORDERS, headers=account.headers), 401)
        assert_problem(await refresh(client, account.refresh_token), 401)
        assert (await client.get(ME, headers=bearer(other["access_token"]))).status_code == 200
        assert (await client.get(ORDERS, headers=bearer(other["access_token"]))).status_code == 200
        assert_problem(await client.post("/api/v1/auth/logout"), 401)


async def test_logout_everywhere_ends_every_session(settings: Settings) -> None:
    async with serving(settings) as client:
        account = await make_account(container_of(client), "eve@example.com")
        other = (await log_in(client, account.email, PASSWORD)).json()
        response = await client.post("/api/v1/auth/logout-all", headers=account.headers)
        assert response.status_code == 204, response.text
        for access, refresh_token in [
            (account.access_token, account.refresh_token),
            (other["access_token"], other["refresh_token"]),
        ]:
            assert_problem(await client.get(ME, headers=bearer(access)), 401)
            assert_problem(await client.get(ORDERS, headers=bearer(access)), 401)
            assert_problem(await refresh(client, refresh_token), 401)
        assert {s.revoked_reason for s in await sessions_of(client, account)} == {"logout-all"}
        assert (await log_in(client, account.email, PASSWORD)).status_code == 200


async def _unlock(client: httpx.AsyncClient, account: Account) -> None:
    """Time passes: the running delay is over (the count of failures stays)."""
    async with container_of(client).session_factory() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(User).where(User.id == account.user.id).values(locked_until=past)
        )
        await session.commit()


async def _delay(client: httpx.AsyncClient, account: Account) -> float:
    async with container_of(client).session_factory() as session:
        user = await session.get(User, account.user.id)
        assert user is not None
        assert user.locked_until is not None
        return (user.locked_until - datetime.now(UTC)).total_seconds()


async def test_lockout_grows_is_capped_expires_and_resets_on_success(settings: Settings) -> None:
    limits = {
        "rate_limit_login": "1000/minute",
        "login_lockout_threshold": 3,
        "login_lockout_base_seconds": 60.0,
        "login_lockout_max_seconds": 200.0,
    }
    async with serving(settings, **limits) as client:
        account = await make_account(container_of(client), "lock@example.com")
        for _ in range(2):
            assert_problem(await log_in(client, account.email, "wrong-password-x"), 401)
        assert_problem(await log_in(client, account.email, "wrong-password-x"), 401)  # 3rd: locked
        delays = [await _delay(client, account)]
        refused = await log_in(client, account.email, PASSWORD)  # right password, still refused
        body = assert_problem(refused, 429)
        assert body["code"] == "account-locked"
        assert 55 <= int(refused.headers["retry-after"]) <= 60
        for _ in range(3):  # each failure after a delay doubles it, up to the cap
            await _unlock(client, account)
            assert_problem(await log_in(client, account.email, "wrong-password-x"), 401)
            delays.append(await _delay(client, account))
        assert [round(d / 10) * 10 for d in delays] == [60, 120, 200, 200]

        await _unlock(client, account)  # the delay ends by itself: the right password works
        assert (await log_in(client, account.email, PASSWORD)).status_code == 200
        async with container_of(client).session_factory() as session:
            user = await session.get(User, account.user.id)
            assert user is not None
            assert (user.failed_logins, user.locked_until) == (0, None)
        assert_problem(await log_in(client, account.email, "wrong-password-x"), 401)  # counts anew
        assert (await log_in(client, account.email, PASSWORD)).status_code == 200


async def test_refused_attempts_during_a_delay_do_not_lengthen_it(settings: Settings) -> None:
    limits = {"rate_limit_login": "1000/minute", "login_lockout_threshold": 1}
    async with serving(settings, **limits) as client:
        account = await make_account(container_of(client), "hold@example.com")
        assert_problem(await log_in(client, account.email, "wrong-password-x"), 401)
        before = await _delay(client, account)
        for _ in range(5):
            assert_problem(await log_in(client, account.email, "wrong-password-x"), 429)
        assert await _delay(client, account) <= before
        async with container_of(client).session_factory() as session:
            user = await session.get(User, account.user.id)
            assert user is not None
            assert user.failed_logins == 1
