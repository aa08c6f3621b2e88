"""TOTP two-factor: enrolment, the two-step sign-in, recovery codes, disabling, the rule for
administrators, and the admin panel's sign-in with a code."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select, update

from orderly.core.config import Settings
from orderly.core.crypto import SecretBox, new_key
from orderly.main import create_app
from orderly.models import RecoveryCode, Role, User
from tests.conftest import PASSWORD, Account, assert_problem, make_account
from tests.integration.accounts import (
    ME,
    TOKEN_MFA,
    bearer,
    container_of,
    log_in,
    serving,
    totp_code,
)

TWO_FA = "/api/v1/auth/2fa"
FAST = {"rate_limit_login": "1000/minute", "rate_limit_account": "1000/minute"}


async def enrol(client: httpx.AsyncClient, account: Account) -> tuple[str, list[str], str]:
    """Two-factor on for the account: its secret, recovery codes, and the code used."""
    setup = await client.post(f"{TWO_FA}/setup", headers=account.headers)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/orderly:")
    used = totp_code(secret)
    confirmed = await client.post(f"{TWO_FA}/confirm", json={"code": used}, headers=account.headers)
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"], used


async def mfa_token(client: httpx.AsyncClient, account: Account) -> str:
    answer = await log_in(client, account.email, PASSWORD)
    body = assert_problem(answer, 403)
    assert body["code"] == "mfa-required"
    assert body["expires_in"] == 300
    token: str = body["mfa_token"]
    return token


async def second_step(client: httpx.AsyncClient, token: str, code: str) -> httpx.Response:
    return await client.post(TOKEN_MFA, json={"mfa_token": token, "code": code})


async def test_enrol_then_sign_in_with_a_code_each_code_once(settings: Settings) -> None:
    async with serving(settings, **FAST) as client:
        account = await make_account(container_of(client), "tina@example.com")
        early = await client.post(
            f"{TWO_FA}/confirm", json={"code": "000000"}, headers=account.headers
        )
        assert_problem(early, 409)  # confirm before setup
        secret, codes, used = await enrol(client, account)
        assert len(codes) == 10
        assert len(set(codes)) == 10
        status = (await client.get(TWO_FA, headers=account.headers)).json()
        assert status == {"enabled": True, "recovery_codes_left": 10}

        token = await mfa_token(client, account)
        assert_problem(await client.get(ME, headers=bearer(token)), 401)  # not an access token
        wrong = "123456" if used != "123456" else "654321"
        assert assert_problem(await second_step(client, token, wrong), 422, "code")["code"] == (
            "invalid-mfa-code"
        )
        # The code that confirmed the enrolment was used up, and so was every earlier step.
        assert_problem(await second_step(client, token, used), 422, "code")
        assert_problem(await second_step(client, token, totp_code(secret, steps_ago=1)), 422)
        signed_in = await second_step(client, token, totp_code(secret, steps_ago=-1))
        assert signed_in.status_code == 200, signed_in.text
        me = await client.get(ME, headers=bearer(signed_in.json()["access_token"]))
        assert me.json()["two_factor_enabled"] is True


async def test_recovery_codes_work_once_and_disable_two_factor(settings: Settings) -> None:
    async with serving(settings, **FAST) as client:
        account = await make_account(container_of(client), "rob@example.com")
        _secret, codes, _used = await enrol(client, account)
        token = await mfa_token(client, account)
        signed_in = await second_step(client, token, codes[0].upper())  # case does not matter
        assert signed_in.status_code == 200, signed_in.text
        assert_problem(await second_step(client, token, codes[0]), 422, "code")
        async with container_of(client).session_factory() as session:
            stored = list(await session.scalars(select(RecoveryCode.code_hash)))
        assert len(stored) == 10
        assert not set(codes) & set(stored)  # hashed

        headers = bearer(signed_in.json()["access_token"])
        assert (await client.get(TWO_FA, headers=headers)).json()["recovery_codes_left"] == 9
        off = await client.post(f"{TWO_FA}/disable", json={"code": codes[1]}, headers=headers)
        assert off.status_code == 204, off.text
        assert (await log_in(client, account.email, PASSWORD)).status_code == 200
        assert (await client.get(TWO_FA, headers=headers)).json() == {
            "enabled": False,
            "recovery_codes_left": 0,
        }


async def test_wrong_codes_count_towards_the_lockout(settings: Settings) -> None:
    async with serving(settings, **FAST, login_lockout_threshold=3) as client:
        account = await make_account(container_of(client), "guess@example.com")
        secret, _codes, _used = await enrol(client, account)
        token = await mfa_token(client, account)
        for _ in range(3):
            assert_problem(await second_step(client, token, "000001"), 422)
        locked = await second_step(client, token, totp_code(secret))
        assert assert_problem(locked, 429)["code"] == "account-locked"
        assert_problem(await log_in(client, account.email, PASSWORD), 429)


async def _admin_api(client: httpx.AsyncClient, admin: Account) -> dict[str, Any]:
    answer = await client.get("/api/v1/users", headers=admin.headers)
    return {"status": answer.status_code, "body": answer.json()}


async def test_admins_must_enrol_where_required_and_may_only_enrol(settings: Settings) -> None:
    async with serving(settings, **FAST, admin_require_mfa=True) as client:
        admin = await make_account(container_of(client), "boss@example.com", role=Role.ADMIN)
        refused = await _admin_api(client, admin)
        assert (refused["status"], refused["body"]["code"]) == (403, "mfa-enrollment-required")
        assert (await client.get(ME, headers=admin.headers)).status_code == 403
        assert (await client.get("/api/v1/orders", headers=admin.headers)).status_code == 403
        secret, codes, _used = await enrol(client, admin)  # enrolment stays open
        off = await client.post(f"{TWO_FA}/disable", json={"code": codes[0]}, headers=admin.headers)
        assert assert_problem(off, 403)["code"] == "mfa-required-for-admins"
        token = await mfa_token(client, admin)
        tokens = (await second_step(client, token, totp_code(secret, steps_ago=-1))).json()
        listed = await client.get("/api/v1/users", headers=bearer(tokens["access_token"]))
        assert listed.status_code == 200, listed.text
        orders = await client.get("/api/v1/orders", headers=bearer(tokens["access_token"]))
        assert orders.status_code == 200, orders.text


async def _panel_login(client: httpx.AsyncClient, email: str, code: str = "") -> httpx.Response:
    form = {"username": email, "password": PASSWORD, "code": code}
    return await client.post("/admin/login", data=form, headers={"Origin": "http://t"})


async def test_the_admin_panel_asks_for_the_code(settings: Settings) -> None:
    async with serving(settings, **FAST, admin_require_mfa=True) as client:
        admin = await make_account(container_of(client), "pam@example.com", role=Role.ADMIN)
        not_enrolled = await _panel_login(client, admin.email)
        assert not_enrolled.status_code == 403
        assert "two-factor first" in not_enrolled.text
        secret, _codes, _used = await enrol(client, admin)
        without = await _panel_login(client, admin.email)
        assert without.status_code == 401
        assert "authenticator" in without.text
        wrong = await _panel_login(client, admin.email, "000002")
        assert wrong.status_code == 401
        assert "orderly_admin" not in wrong.headers.get("set-cookie", "")
        right = await _panel_login(client, admin.email, totp_code(secret, steps_ago=-1))
        assert right.status_code in (302, 303), right.text
        assert "orderly_admin=" in right.headers["set-cookie"]


async def test_the_seed_is_stored_sealed_and_codes_still_open_the_account(
    settings: Settings,
) -> None:
    key = new_key()
    async with serving(settings, data_keys=SecretStr(key), **FAST) as client:
        container = container_of(client)
        account = await make_account(container, "sealed@example.com")
        secret, _, _ = await enrol(client, account)
        async with container.engine.connect() as connection:
            stored = (
                await connection.execute(select(User.totp_secret).where(User.id == account.user.id))
            ).scalar_one()
        assert stored is not None
        assert secret not in stored  # a copy of the database gives no second factor away
        assert SecretBox([key.encode()]).open(stored) == secret
        token = await mfa_token(client, account)
        signed_in = await second_step(client, token, totp_code(secret, steps_ago=-1))
        assert signed_in.status_code == 200, signed_in.text


async def _stored_seed(client: httpx.AsyncClient, account: Account) -> str | None:
    async with container_of(client).engine.connect() as connection:
        query = select(User.totp_secret).where(User.id == account.user.id)
        stored: str | None = (await connection.execute(query)).scalar_one()
    return stored


async def test_a_seed_stored_unsealed_works_and_is_sealed_at_its_next_code(
    settings: Settings,
) -> None:
    """A seed written before revision 0013, or by the previous release mid-deploy."""
    async with serving(settings, **FAST) as client:
        container = container_of(client)
        account = await make_account(container, "legacy@example.com")
        secret, _, _ = await enrol(client, account)
        async with container.engine.begin() as connection:
            await connection.execute(
                update(User).where(User.id == account.user.id).values(totp_secret=secret)
            )
        token = await mfa_token(client, account)
        signed_in = await second_step(client, token, totp_code(secret, steps_ago=-1))
        assert signed_in.status_code == 200, signed_in.text
        sealed = await _stored_seed(client, account)
        assert sealed is not None
        assert secret not in sealed
        assert SecretBox(settings.sealing_keys).open(sealed) == secret


async def test_a_seed_no_key_opens_is_a_wrong_code_and_recovery_codes_still_work(
    settings: Settings,
) -> None:
    dropped, kept = new_key(), new_key()
    async with serving(settings, data_keys=SecretStr(dropped), **FAST) as client:
        account = await make_account(container_of(client), "dropped@example.com")
        secret, codes, _ = await enrol(client, account)
        sealed = await _stored_seed(client, account)
        app = create_app(settings.model_copy(update={"data_keys": SecretStr(kept), **FAST}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
                token = await mfa_token(other, account)
                code = totp_code(secret, steps_ago=-1)
                refused = await second_step(other, token, code)
                assert assert_problem(refused, 422, "code")["code"] == "invalid-mfa-code"
                recovered = await second_step(other, token, codes[0])
                assert recovered.status_code == 200, recovered.text
        assert await _stored_seed(client, account) == sealed  # left for the key's owner
