"""OWASP API Security Top 10 (2023), the access-control categories, against the real app:
API1 object-level, API2 authentication, API3 object-property-level and API5 function-level
authorization. The rest are in test_owasp_api_platform.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from orderly.api.deps import get_admin, get_admin_writer
from orderly.container import Container
from orderly.models import Item
from tests.conftest import TEST_SECRET, Account, assert_problem, make_account
from tests.integration.test_items import add_item

ORDERS = "/api/v1/orders"
NEW_ACCOUNT = {"email": "eve@example.com", "password": "s3cret-enough-pw", "full_name": "Eve"}
SECRET_FIELDS = {"password", "password_hash", "hashed_password", "token_version", "secret"}


@pytest.fixture
async def lamp(container: Container) -> Item:
    return await add_item(container, "OWASP-1", stock=10)


@pytest.fixture
async def mallory(container: Container) -> Account:
    return await make_account(container, "mallory@example.com")


async def place(client: httpx.AsyncClient, who: Account, item: Item, quantity: int = 1) -> str:
    body = {"lines": [{"item_id": str(item.id), "quantity": quantity}]}
    answer = await client.post(ORDERS, json=body, headers=who.headers)
    assert answer.status_code == 201, answer.text
    order_id: str = answer.json()["id"]
    return order_id


# -- API1: broken object-level authorization -------------------------------------------


async def test_api1_another_customers_order_is_not_found_for_every_operation(
    client: httpx.AsyncClient, customer: Account, mallory: Account, lamp: Item
) -> None:
    order_id = await place(client, customer, lamp)
    attempts = [
        ("GET", f"{ORDERS}/{order_id}", None),
        ("GET", f"/api/v2/orders/{order_id}", None),
        ("GET", f"{ORDERS}/{order_id}/timeline", None),
        ("GET", f"{ORDERS}/{order_id}/events", None),
        ("POST", f"{ORDERS}/{order_id}/pay", {"payment_method": "pm_card_visa"}),
        ("POST", f"{ORDERS}/{order_id}/cancel", {"reason": "not mine"}),
    ]
    for method, url, body in attempts:
        answer = await client.request(method, url, json=body, headers=mallory.headers)
        # the same answer as an order that does not exist: the id is not confirmed
        assert_problem(answer, 404)
    listed = (await client.get(ORDERS, headers=mallory.headers)).json()
    assert listed["items"] == []
    mine = (await client.get(f"{ORDERS}/{order_id}", headers=customer.headers)).json()
    assert mine["status"] == "pending_payment"  # nothing the other customer did took effect


# -- API2: broken authentication --------------------------------------------------------


def forged(real_token: str, *, key: str = TEST_SECRET, **changes: Any) -> str:
    claims = jwt.decode(real_token, options={"verify_signature": False})
    claims.update(changes)
    if key == "":
        return jwt.encode(claims, "", algorithm="none")
    return jwt.encode(claims, key, algorithm="HS256")


FORGERIES: dict[str, Callable[[str], str]] = {
    "expired": lambda t: forged(t, exp=datetime.now(UTC) - timedelta(seconds=5)),
    "wrong key": lambda t: forged(t, key="another-key-" + "x" * 40),
    "alg none": lambda t: forged(t, key=""),
    "unknown user": lambda t: forged(t, sub=str(uuid.uuid4())),
    "refresh as access": lambda t: forged(t, typ="refresh"),
    "another issuer": lambda t: forged(t, iss="someone-else"),
    "bad signature": lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
    "garbage": lambda t: "not-a-jwt",
}


async def test_api2_forged_and_expired_tokens_are_refused(
    client: httpx.AsyncClient, customer: Account
) -> None:
    for name, make in FORGERIES.items():
        token = make(customer.access_token)
        answer = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, name
        assert_problem(answer, 401)
        assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_api2_tokens_of_a_deactivated_account_are_revoked(
    client: httpx.AsyncClient, customer: Account, admin: Account
) -> None:
    assert (await client.get("/api/v1/users/me", headers=customer.headers)).status_code == 200
    answer = await client.patch(
        f"/api/v1/users/{customer.user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert answer.status_code == 200, answer.text
    assert_problem(await client.get("/api/v1/users/me", headers=customer.headers), 401)
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": customer.refresh_token}
    )
    assert_problem(refreshed, 401)


# -- API3: broken object-property-level authorization -----------------------------------


MASS_ASSIGNMENTS = [
    ("PATCH", "/api/v1/users/me", {"role": "admin"}, "role"),
    ("PATCH", "/api/v1/users/me", {"is_active": True}, "is_active"),
    ("PATCH", "/api/v1/users/me", {"email": "x@example.com"}, "email"),
    ("POST", "/api/v1/auth/register", {**NEW_ACCOUNT, "role": "admin"}, "role"),
    ("POST", "/api/v1/auth/register", {**NEW_ACCOUNT, "is_active": False}, "is_active"),
]


async def test_api3_a_customer_cannot_set_protected_fields_of_their_account(
    client: httpx.AsyncClient, customer: Account
) -> None:
    for method, url, body, field in MASS_ASSIGNMENTS:
        answer = await client.request(method, url, json=body, headers=customer.headers)
        assert_problem(answer, 422, field)
    me = (await client.get("/api/v1/users/me", headers=customer.headers)).json()
    assert (me["role"], me["email"]) == ("customer", customer.email)
    assert (await client.get("/api/v1/users", headers=customer.headers)).status_code == 403


async def test_api3_an_order_body_cannot_set_its_status_total_or_owner(
    client: httpx.AsyncClient, customer: Account, lamp: Item
) -> None:
    line: dict[str, Any] = {"item_id": str(lamp.id), "quantity": 1}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status": "paid"}, "status"),
        ({"total_minor": 1}, "total_minor"),
        ({"user_id": str(uuid.uuid4())}, "user_id"),
        ({"lines": [{**line, "unit_price_minor": 1}]}, "lines.0.unit_price_minor"),
    ]
    for extra, field in cases:
        body = {"lines": [line], **extra}
        assert_problem(await client.post(ORDERS, json=body, headers=customer.headers), 422, field)
    assert (await client.get(ORDERS, headers=customer.headers)).json()["total"] == 0


def leaked(body: Any) -> set[str]:
    if isinstance(body, dict):
        found = {k for k in body if k.lower() in SECRET_FIELDS}
        return found.union(*(leaked(v) for v in body.values()))
    if isinstance(body, list):
        return set().union(*(leaked(v) for v in body))
    return set()


async def test_api3_responses_carry_no_password_hash_or_internal_fields(
    client: httpx.AsyncClient, customer: Account, admin: Account, lamp: Item
) -> None:
    order_id = await place(client, customer, lamp)
    reads = [
        ("GET", "/api/v1/users/me", customer),
        ("GET", "/api/v1/users", admin),
        ("GET", f"/api/v1/users/{customer.user.id}", admin),
        ("GET", f"{ORDERS}/{order_id}", customer),
        ("GET", f"{ORDERS}/{order_id}/timeline", customer),
    ]
    for method, url, who in reads:
        answer = await client.request(method, url, headers=who.headers)
        assert answer.status_code == 200, (url, answer.text)
        assert not leaked(answer.json()), (url, leaked(answer.json()))
        assert "argon2" not in answer.text
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": "new@example.com", "password": "s3cret-enough-pw", "full_name": "New"},
    )
    assert registered.status_code == 201, registered.text
    assert not leaked(registered.json())


# -- API5: broken function-level authorization ------------------------------------------


def needs_admin(dependant: Dependant) -> bool:
    return any(
        d.call in {get_admin, get_admin_writer} or needs_admin(d) for d in dependant.dependencies
    )


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) whose route depends on the admin check, found from the app."""
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path_format and needs_admin(route.dependant):
            found.extend((method, context.path_format) for method in sorted(route.methods or ()))
    return found


async def test_api5_a_customer_is_refused_on_every_admin_route(
    app: FastAPI, client: httpx.AsyncClient, customer: Account
) -> None:
    routes = admin_routes(app)
    assert len(routes) >= 15  # items, users, fulfil, notes, reports, webhooks at least
    for method, template in routes:
        url = template.format_map(_AnyId())
        answer = await client.request(method, url, json={}, headers=customer.headers)
        body = assert_problem(answer, 403)
        assert body["code"] == "admin-required", (method, url)


class _AnyId(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return str(uuid.uuid4())
