"""API v2 (decimal money, cursor pages) and version negotiation on the unversioned path."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orderly.container import Container
from orderly.core.config import Settings
from orderly.main import create_app
from orderly.models import Item
from tests.conftest import Account, assert_problem
from tests.integration.test_items import add_item

V2 = "application/vnd.orderly.v2+json"


@pytest.fixture
async def shelf(container: Container) -> list[Item]:
    prices = [500, 1999, 1999, 250, 12000, 750, 1999]
    return [
        await add_item(container, f"V2-{n}", name=f"Thing {n % 3}", price_minor=p, stock=n + 20)
        for n, p in enumerate(prices)
    ]


async def walk(client: httpx.AsyncClient, url: str, **headers: str) -> list[dict[str, Any]]:
    """Follow ``next`` links from ``url`` to the end; at most 50 pages."""
    seen: list[dict[str, Any]] = []
    for _ in range(50):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["items"]
        if page["next"] is None:
            return seen
        url = page["next"]
    pytest.fail("more than 50 pages")


@pytest.mark.parametrize("sort", ["name", "-name", "price", "-price", "created", "-created"])
async def test_cursor_pages_visit_every_item_once_in_order(
    client: httpx.AsyncClient, shelf: list[Item], sort: str
) -> None:
    seen = await walk(client, f"/api/v2/items?limit=2&sort={sort}")
    assert len(seen) == len(shelf)
    assert len({item["id"] for item in seen}) == len(shelf)
    v1 = await client.get("/api/v1/items", params={"limit": 100, "sort": sort})
    assert [i["id"] for i in seen] == [i["id"] for i in v1.json()["items"]]


async def test_money_is_a_decimal_string_with_its_currency(
    client: httpx.AsyncClient, container: Container, shelf: list[Item]
) -> None:
    item = (await client.get(f"/api/v2/items/{shelf[1].id}")).json()
    assert item["price"] == {"amount": "19.99", "currency": "EUR"}
    assert "price_minor" not in item
    jpy = await add_item(
        container,
        "YEN-1",
        price_minor=500,
        currency="JPY",
    )
    assert (await client.get(f"/api/v2/items/{jpy.id}")).json()["price"]["amount"] == "500"


async def test_filters_combine_with_cursors(client: httpx.AsyncClient, shelf: list[Item]) -> None:
    seen = await walk(client, "/api/v2/items?limit=1&min_price=1999&max_price=1999&sort=-name")
    assert [i["price"]["amount"] for i in seen] == ["19.99"] * 3


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"k": "items:price", "v": 1, "id": "x"}).encode())
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(json.dumps({"k": "orders", "v": 1, "id": "x"}).encode()).decode(),
    ],
)
async def test_bad_cursors_are_422(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/api/v2/items", params={"cursor": cursor, "sort": "price"})
    assert_problem(response, 422, "cursor")


async def test_a_cursor_of_another_sort_is_refused(
    client: httpx.AsyncClient, shelf: list[Item]
) -> None:
    page = (await client.get("/api/v2/items?limit=1&sort=name")).json()
    cursor = page["next"].split("cursor=")[1]
    response = await client.get("/api/v2/items", params={"cursor": cursor, "sort": "price"})
    assert_problem(response, 422, "cursor")


async def test_orders_in_v2(
    client: httpx.AsyncClient, customer: Account, shelf: list[Item], admin: Account
) -> None:
    body = {"lines": [{"item_id": str(shelf[1].id), "quantity": 2}]}
    placed = await client.post("/api/v2/orders", json=body, headers=customer.headers)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["total"] == {"amount": "39.98", "currency": "EUR"}
    assert order["lines"][0]["unit_price"] == {"amount": "19.99", "currency": "EUR"}
    assert placed.headers["location"] == f"/api/v2/orders/{order['id']}"
    for _ in range(4):
        await client.post("/api/v2/orders", json=body, headers=customer.headers)
    mine = await walk(client, "/api/v2/orders?limit=2", **customer.headers)
    assert len(mine) == 5
    stamps = [o["created_at"] for o in mine]
    assert stamps == sorted(stamps, reverse=True)
    one = await client.get(f"/api/v2/orders/{order['id']}", headers=customer.headers)
    assert one.json()["total"]["amount"] == "39.98"
    by_admin = await client.get(f"/api/v2/orders/{order['id']}", headers=admin.headers)
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["id"] == order["id"]
    assert_problem(await client.get("/api/v2/orders"), 401)


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ({}, "1"),
        ({"Accept": V2}, "2"),
        ({"Accept": f"text/html, {V2};q=0.9"}, "2"),
        ({"X-API-Version": "2"}, "2"),
        ({"X-API-Version": "v1"}, "1"),
        ({"Accept": "application/vnd.orderly.v1+json"}, "1"),
    ],
)
async def test_unversioned_path_negotiates(
    client: httpx.AsyncClient, shelf: list[Item], headers: dict[str, str], version: str
) -> None:
    response = await client.get("/api/items", params={"limit": 3}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["api-version"] == version
    body = response.json()
    if version == "2":
        assert "next" in body
        assert "amount" in body["items"][0]["price"]
    else:
        assert body["total"] == len(shelf)
        assert isinstance(body["items"][0]["price_minor"], int)


@pytest.mark.parametrize(
    "headers", [{"X-API-Version": "3"}, {"Accept": "application/vnd.orderly.v9+json"}]
)
async def test_unknown_versions_are_406(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert_problem(await client.get("/api/items", headers=headers), 406)


async def test_v1_can_announce_its_sunset(settings: Settings) -> None:
    app: FastAPI = create_app(
        settings.model_copy(
            update={
                "api_v1_deprecation": "@1798761600",
                "api_v1_sunset": "Fri, 01 Jan 2027 00:00:00 GMT",
            }
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            v1 = await http.get("/api/v1/items")
            v2 = await http.get("/api/v2/items")
    assert v1.headers["deprecation"] == "@1798761600"
    assert v1.headers["sunset"] == "Fri, 01 Jan 2027 00:00:00 GMT"
    assert "deprecation" not in v2.headers
    assert "sunset" not in v2.headers


async def test_both_versions_are_in_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/items", "/api/v2/items", "/api/v1/orders", "/api/v2/orders"} <= set(paths)
