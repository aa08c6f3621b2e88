"""Registration, log-in, refresh and every way a token can be wrong."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from orderly.container import Container
from tests.conftest import PASSWORD, TEST_SECRET, Account, assert_problem

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


async def user_count(container: Container) -> int:
    async with container.uow() as uow:
        return await uow.users.count()


async def test_register_creates_a_customer_without_exposing_the_hash(
    client: httpx.AsyncClient, container: Container
) -> None:
    response = await client.post(
        REGISTER, json={"email": "Dan@Example.com", "password": PASSWORD, "full_name": " Dan "}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "dan@example.com"
    assert body["full_name"] == "Dan"
    assert body["role"] == "customer"
    assert "password" not in response.text
    assert "argon2" not in response.text
    assert await user_count(container) == 1


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"email": "not-an-email"}, ["email", "password", "full_name"]),
        ({}, ["email", "password", "full_name"]),
        ({"email": 42, "password": ["x"], "full_name": None}, ["email", "password", "full_name"]),
        ({"email": "e@example.com", "password": "short", "full_name": "E"}, ["password"]),
        ({"email": "e@example.com", "password": "x" * 129, "full_name": "E"}, ["password"]),
        ({"email": "e@example.com", "password": PASSWORD, "full_name": "E" * 201}, ["full_name"]),
        ({"email": "e@example.com", "password": PASSWORD, "full_name": ""}, ["full_name"]),
        ({"email": "e" * 320 + "@example.com", "password": PASSWORD, "full_name": "E"}, ["email"]),
        (
            {"email": "e@example.com", "password": PASSWORD, "full_name": "E", "role": "admin"},
            ["role"],
        ),
    ],
)
async def test_register_rejects_bad_input_and_writes_nothing(
    client: httpx.AsyncClient, container: Container, payload: object, fields: list[str]
) -> None:
    response = await client.post(REGISTER, json=payload)
    assert_problem(response, 422, *fields)
    assert await user_count(container) == 0


async def test_register_rejects_malformed_json(
    client: httpx.AsyncClient, container: Container
) -> None:
    response = await client.post(
        REGISTER, content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)
    assert await user_count(container) == 0


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaaaa", "ababababab12", "xx-erin.smith-xx"], ids=["one", "few", "email"]
)
async def test_register_enforces_the_password_policy(
    client: httpx.AsyncClient, container: Container, password: str
) -> None:
    response = await client.post(
        REGISTER,
        json={"email": "erin.smith@example.com", "password": password, "full_name": "Erin"},
    )
    if password == "ababababab12":  # four distinct characters is the floor: accepted
        assert response.status_code == 201
        return
    assert_problem(response, 422, "password")
    assert await user_count(container) == 0


async def test_register_same_email_in_other_case_conflicts(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    response = await client.post(
        REGISTER, json={"email": "CAROL@example.COM", "password": PASSWORD, "full_name": "C"}
    )
    assert_problem(response, 409, "email")
    assert await user_count(container) == 1


async def test_token_and_me(client: httpx.AsyncClient, customer: Account) -> None:
    response = await client.post(
        TOKEN, data={"username": "Carol@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    me = await client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "carol@example.com"


@pytest.mark.parametrize(
    ("username", "password"),
    [("carol@example.com", "wrong-password-1"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
async def test_token_with_bad_credentials_is_401(
    client: httpx.AsyncClient, customer: Account, username: str, password: str
) -> None:
    response = await client.post(TOKEN, data={"username": username, "password": password})
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["detail"] == "Incorrect e-mail or password"  # the same for both: no enumeration


async def test_token_without_form_fields_is_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(TOKEN, data={}), 422, "username", "password")


async def test_refresh_issues_a_new_pair(client: httpx.AsyncClient, customer: Account) -> None:
    response = await client.post(REFRESH, json={"refresh_token": customer.refresh_token})
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    assert (await client.get(ME, headers={"Authorization": f"Bearer {access}"})).status_code == 200


async def test_access_token_is_not_a_refresh_token(
    client: httpx.AsyncClient, customer: Account
) -> None:
    response = await client.post(REFRESH, json={"refresh_token": customer.access_token})
    assert_problem(response, 401)


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, customer: Account
) -> None:
    response = await client.get(ME, headers={"Authorization": f"Bearer {customer.refresh_token}"})
    assert_problem(response, 401)


def _forge(claims: dict[str, object], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _claims(account: Account, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": "orderly",
        "sub": str(account.user.id),
        "typ": "access",
        "ver": 0,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "sid": jwt.decode(account.access_token, options={"verify_signature": False})["sid"],
    }
    claims.update(overrides)
    return claims


async def test_a_well_forged_token_is_accepted_so_the_negative_cases_mean_something(
    client: httpx.AsyncClient, customer: Account
) -> None:
    token = _forge(_claims(customer))
    assert (await client.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.parametrize(
    "case",
    ["expired", "tampered", "alg-none", "other-key", "garbage", "no-session", "other-session"],
)
async def test_bad_tokens_are_401(client: httpx.AsyncClient, customer: Account, case: str) -> None:
    now = datetime.now(UTC)
    if case == "no-session":
        token = _forge({k: v for k, v in _claims(customer).items() if k != "sid"})
    elif case == "other-session":
        token = _forge(_claims(customer, sid=str(uuid.uuid4())))
    elif case == "expired":
        token = _forge(_claims(customer, iat=now - timedelta(hours=1), exp=now - timedelta(1)))
    elif case == "tampered":
        good = _forge(_claims(customer))
        header, payload, signature = good.split(".")
        token = (
            f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
        )
    elif case == "alg-none":
        token = jwt.encode(_claims(customer), key="", algorithm="none")
    elif case == "other-key":
        token = _forge(_claims(customer), key="another-secret-key-of-sufficient-length-42")
    else:
        token = "not.a.jwt"
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    if case == "expired":
        assert "expired" in body["detail"]


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(ME), 401)


async def test_deactivated_users_tokens_stop_working_and_login_is_refused(
    client: httpx.AsyncClient, customer: Account, admin: Account
) -> None:
    response = await client.patch(
        f"/api/v1/users/{customer.user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert_problem(await client.get(ME, headers=customer.headers), 401)
    assert_problem(await client.get("/api/v1/orders", headers=customer.headers), 401)
    assert_problem(await client.post(REFRESH, json={"refresh_token": customer.refresh_token}), 401)
    login = await client.post(TOKEN, data={"username": customer.email, "password": PASSWORD})
    assert_problem(login, 403)
