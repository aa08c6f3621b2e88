"""The profile (/users/me) and the administrator's user management."""

from __future__ import annotations

import uuid

import httpx
import pytest

from orderly.container import Container
from orderly.models import Role
from tests.conftest import PASSWORD, Account, assert_problem, make_account

ME = "/api/v1/users/me"
USERS = "/api/v1/users"


async def stored(container: Container, user_id: uuid.UUID) -> tuple[Role, bool, str, str]:
    async with container.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        return user.role, user.is_active, user.full_name, user.password_hash


async def test_update_my_name(client: httpx.AsyncClient, customer: Account) -> None:
    response = await client.patch(ME, json={"full_name": "Carol C."}, headers=customer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Carol C."


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "admin"}, "role"),
        ({"full_name": "Carol", "is_active": False}, "is_active"),
        ({"full_name": "x" * 201}, "full_name"),
        ({"full_name": 7}, "full_name"),
        ({"password": "short", "current_password": PASSWORD}, "password"),
    ],
)
async def test_update_me_rejects_what_a_user_may_not_change(
    client: httpx.AsyncClient,
    container: Container,
    customer: Account,
    payload: dict[str, object],
    field: str,
) -> None:
    before = await stored(container, customer.user.id)
    response = await client.patch(ME, json=payload, headers=customer.headers)
    assert_problem(response, 422, field)
    assert await stored(container, customer.user.id) == before


@pytest.mark.parametrize("current", [None, "not-my-password"])
async def test_changing_password_needs_the_current_one(
    client: httpx.AsyncClient, container: Container, customer: Account, current: str | None
) -> None:
    before = await stored(container, customer.user.id)
    payload = {"password": "a-brand-new-passphrase", "current_password": current}
    response = await client.patch(ME, json=payload, headers=customer.headers)
    assert_problem(response, 422, "current_password")
    assert await stored(container, customer.user.id) == before


async def test_changing_password_revokes_old_tokens(
    client: httpx.AsyncClient, customer: Account
) -> None:
    new = "a-brand-new-passphrase"
    response = await client.patch(
        ME, json={"password": new, "current_password": PASSWORD}, headers=customer.headers
    )
    assert response.status_code == 200, response.text
    assert_problem(await client.get(ME, headers=customer.headers), 401)
    old_login = await client.post(
        "/api/v1/auth/token", data={"username": customer.email, "password": PASSWORD}
    )
    assert_problem(old_login, 401)
    new_login = await client.post(
        "/api/v1/auth/token", data={"username": customer.email, "password": new}
    )
    assert new_login.status_code == 200


async def test_admin_lists_users_with_pagination(
    client: httpx.AsyncClient, container: Container, admin: Account, customer: Account
) -> None:
    for n in range(3):
        await container.users.register(
            email=f"user{n}@example.com", password=PASSWORD, full_name=f"User {n}"
        )
    response = await client.get(USERS, params={"limit": 2, "offset": 1}, headers=admin.headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert len(page["items"]) == 2
    assert "password" not in response.text
    everyone = await client.get(USERS, params={"limit": 100}, headers=admin.headers)
    assert len({u["id"] for u in everyone.json()["items"]}) == 5


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
async def test_user_list_rejects_bad_paging(
    client: httpx.AsyncClient, admin: Account, params: dict[str, str | int]
) -> None:
    response = await client.get(USERS, params=params, headers=admin.headers)
    assert_problem(response, 422, next(iter(params)))


async def test_customer_gets_403_and_anonymous_401_on_admin_endpoints(
    client: httpx.AsyncClient, customer: Account, admin: Account
) -> None:
    assert_problem(await client.get(USERS, headers=customer.headers), 403)
    assert_problem(await client.get(USERS), 401)
    url = f"{USERS}/{admin.user.id}"
    assert_problem(
        await client.patch(url, json={"role": "customer"}, headers=customer.headers), 403
    )
    assert_problem(await client.get(url, headers=customer.headers), 403)


async def test_admin_promotes_and_reads_a_user(
    client: httpx.AsyncClient, container: Container, admin: Account, customer: Account
) -> None:
    url = f"{USERS}/{customer.user.id}"
    response = await client.patch(url, json={"role": "admin"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert (await stored(container, customer.user.id))[0] is Role.ADMIN
    assert (await client.get(url, headers=admin.headers)).json()["role"] == "admin"
    # the customer's existing token now carries admin rights (role is read per request)
    assert (await client.get(USERS, headers=customer.headers)).status_code == 200


async def test_reactivated_user_can_log_in_again(
    client: httpx.AsyncClient, admin: Account, customer: Account
) -> None:
    url = f"{USERS}/{customer.user.id}"
    await client.patch(url, json={"is_active": False}, headers=admin.headers)
    assert (await client.patch(url, json={"is_active": True}, headers=admin.headers)).is_success
    login = await client.post(
        "/api/v1/auth/token", data={"username": customer.email, "password": PASSWORD}
    )
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "superuser"}, "role"),
        ({"is_active": "yes"}, "is_active"),
        ({"email": "x@example.com"}, "email"),
    ],
)
async def test_admin_update_rejects_bad_fields(
    client: httpx.AsyncClient,
    container: Container,
    admin: Account,
    customer: Account,
    payload: dict[str, object],
    field: str,
) -> None:
    before = await stored(container, customer.user.id)
    url = f"{USERS}/{customer.user.id}"
    assert_problem(await client.patch(url, json=payload, headers=admin.headers), 422, field)
    assert await stored(container, customer.user.id) == before


async def test_admin_update_unknown_and_malformed_ids(
    client: httpx.AsyncClient, admin: Account
) -> None:
    unknown = await client.patch(
        f"{USERS}/{uuid.uuid4()}", json={"role": "admin"}, headers=admin.headers
    )
    assert_problem(unknown, 404)
    malformed = await client.patch(f"{USERS}/42", json={"role": "admin"}, headers=admin.headers)
    assert_problem(malformed, 422, "user_id")


@pytest.mark.parametrize("payload", [{"role": "customer"}, {"is_active": False}])
async def test_admin_cannot_lock_themselves_out(
    client: httpx.AsyncClient, container: Container, admin: Account, payload: dict[str, object]
) -> None:
    response = await client.patch(f"{USERS}/{admin.user.id}", json=payload, headers=admin.headers)
    assert_problem(response, 409)
    assert (await stored(container, admin.user.id))[:2] == (Role.ADMIN, True)


async def test_second_admin_can_demote_the_first(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    other = await make_account(container, "grace@example.com", role=Role.ADMIN)
    url = f"{USERS}/{admin.user.id}"
    response = await client.patch(url, json={"role": "customer"}, headers=other.headers)
    assert response.status_code == 200
    assert_problem(await client.get(USERS, headers=admin.headers), 403)
