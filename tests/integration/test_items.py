"""The catalog: public browsing and filtering, admin create/update/soft delete."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from orderly.container import Container
from orderly.models import Item
from tests.conftest import Account, assert_problem

ITEMS = "/api/v1/items"


async def add_item(container: Container, sku: str, **fields: Any) -> Item:
    values: dict[str, Any] = {
        "name": f"Item {sku}",
        "price_minor": 1000,
        "currency": "EUR",
        "stock": 5,
    }
    values.update(fields)
    return await container.catalog.create_item(sku=sku, **values)


async def item_count(container: Container) -> int:
    async with container.uow() as uow:
        return await uow.items.count()


@pytest.fixture
async def catalog(container: Container) -> list[Item]:
    return [
        await add_item(container, "LAMP-1", name="Oak Lamp", price_minor=2500, stock=3),
        await add_item(container, "MUG-1", name="Blue Mug", price_minor=900, stock=0),
        await add_item(container, "CHAIR-1", name="Oak Chair", price_minor=12000, stock=7),
        await add_item(container, "VASE-1", name="Glass Vase 100%", price_minor=4000, stock=1),
    ]


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_public_list_is_paginated_with_a_total(
    client: httpx.AsyncClient, catalog: list[Item]
) -> None:
    response = await client.get(ITEMS, params={"limit": 2, "offset": 1})
    page = response.json()
    assert page["total"] == 4
    assert (page["limit"], page["offset"]) == (2, 1)
    assert names(response) == ["Glass Vase 100%", "Oak Chair"]
    first = page["items"][0]
    assert first["price_minor"] == 4000
    assert first["currency"] == "EUR"


@pytest.mark.parametrize(
    ("params", "total", "shown"),
    [
        ({"limit": 1, "q": "oak"}, 2, 1),  # the total counts the filter, not the page
        ({"limit": 2, "offset": 4}, 4, 0),  # past the end: the total still comes back
        ({"limit": 2, "offset": 50, "q": "oak"}, 2, 0),
        ({"q": "nothing like it"}, 0, 0),
    ],
)
async def test_total_counts_every_match_on_any_page(
    client: httpx.AsyncClient, catalog: list[Item], params: dict[str, Any], total: int, shown: int
) -> None:
    page = (await client.get(ITEMS, params=params)).json()
    assert (page["total"], len(page["items"])) == (total, shown)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "oak"}, ["Oak Chair", "Oak Lamp"]),
        ({"q": "MUG-"}, ["Blue Mug"]),
        ({"q": "100%"}, ["Glass Vase 100%"]),
        ({"q": "%"}, ["Glass Vase 100%"]),
        ({"min_price": 2500, "max_price": 4000}, ["Glass Vase 100%", "Oak Lamp"]),
        ({"in_stock": "true"}, ["Glass Vase 100%", "Oak Chair", "Oak Lamp"]),
        ({"sort": "price"}, ["Blue Mug", "Oak Lamp", "Glass Vase 100%", "Oak Chair"]),
        ({"sort": "-price"}, ["Oak Chair", "Glass Vase 100%", "Oak Lamp", "Blue Mug"]),
        ({"sort": "-name"}, ["Oak Lamp", "Oak Chair", "Glass Vase 100%", "Blue Mug"]),
        ({"sort": "created"}, ["Oak Lamp", "Blue Mug", "Oak Chair", "Glass Vase 100%"]),
        ({"sort": "-created"}, ["Glass Vase 100%", "Oak Chair", "Blue Mug", "Oak Lamp"]),
    ],
)
async def test_filters_and_sorting(
    client: httpx.AsyncClient,
    catalog: list[Item],
    params: dict[str, str | int],
    expected: list[str],
) -> None:
    response = await client.get(ITEMS, params=params)
    assert names(response) == expected
    assert response.json()["total"] == len(expected)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -5}, "offset"),
        ({"min_price": -1}, "min_price"),
        ({"min_price": 500, "max_price": 100}, "min_price"),
        ({"sort": "colour"}, "sort"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"q": "x" * 101}, "q"),
    ],
)
async def test_list_rejects_bad_query(
    client: httpx.AsyncClient, params: dict[str, str | int], field: str
) -> None:
    assert_problem(await client.get(ITEMS, params=params), 422, field)


async def test_get_one_item(client: httpx.AsyncClient, catalog: list[Item]) -> None:
    response = await client.get(f"{ITEMS}/{catalog[0].id}")
    assert response.status_code == 200
    assert response.json()["sku"] == "LAMP-1"
    assert_problem(await client.get(f"{ITEMS}/{uuid.uuid4()}"), 404)
    assert_problem(await client.get(f"{ITEMS}/not-a-uuid"), 422, "item_id")


async def test_admin_creates_an_item(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    payload = {
        "sku": "tea-pot-01",
        "name": "Tea Pot",
        "description": "Holds tea.",
        "price_minor": 3450,
        "currency": "eur",
        "stock": 12,
    }
    response = await client.post(ITEMS, json=payload, headers=admin.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sku"] == "TEA-POT-01"
    assert body["currency"] == "EUR"
    assert response.headers["location"] == f"/api/v1/items/{body['id']}"
    assert (await client.get(response.headers["location"])).json()["name"] == "Tea Pot"


VALID = {"sku": "NEW-1", "name": "New", "price_minor": 100, "currency": "EUR", "stock": 1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sku": None}, "sku"),
        ({"sku": "bad sku!"}, "sku"),
        ({"sku": "S" * 65}, "sku"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"description": "d" * 5001}, "description"),
        ({"price_minor": -1}, "price_minor"),
        ({"price_minor": "100"}, "price_minor"),
        ({"price_minor": 12.5}, "price_minor"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"stock": -1}, "stock"),
        ({"stock": True}, "stock"),
        ({"active": False}, "active"),
    ],
)
async def test_create_rejects_bad_input_and_writes_nothing(
    client: httpx.AsyncClient,
    container: Container,
    admin: Account,
    changes: dict[str, object],
    field: str,
) -> None:
    payload = {**VALID, **changes}
    response = await client.post(ITEMS, json=payload, headers=admin.headers)
    assert_problem(response, 422, field)
    assert await item_count(container) == 0


async def test_duplicate_sku_in_other_case_conflicts(
    client: httpx.AsyncClient, container: Container, admin: Account, catalog: list[Item]
) -> None:
    response = await client.post(ITEMS, json={**VALID, "sku": "lamp-1"}, headers=admin.headers)
    assert_problem(response, 409, "sku")
    assert await item_count(container) == 4


async def test_only_admins_write_the_catalog(
    client: httpx.AsyncClient, container: Container, customer: Account, catalog: list[Item]
) -> None:
    url = f"{ITEMS}/{catalog[0].id}"
    assert_problem(await client.post(ITEMS, json=VALID, headers=customer.headers), 403)
    assert_problem(await client.post(ITEMS, json=VALID), 401)
    assert_problem(await client.patch(url, json={"stock": 0}, headers=customer.headers), 403)
    assert_problem(await client.delete(url, headers=customer.headers), 403)
    assert_problem(await client.delete(url), 401)
    assert await item_count(container) == 4
    assert (await client.get(url)).json()["stock"] == 3


async def test_admin_updates_an_item(
    client: httpx.AsyncClient, admin: Account, catalog: list[Item]
) -> None:
    url = f"{ITEMS}/{catalog[0].id}"
    response = await client.patch(
        url, json={"price_minor": 2600, "stock": 9, "name": "Oak Lamp II"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["price_minor"], body["stock"], body["name"]) == (2600, 9, "Oak Lamp II")
    assert body["sku"] == "LAMP-1"
    assert body["updated_at"] > body["created_at"]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"sku": "MUG-1"}, 409, "sku"),
        ({"stock": -3}, 422, "stock"),
        ({"currency": "ABC"}, 422, "currency"),
        ({"role": "x"}, 422, "role"),
        ({"is_active": "no"}, 422, "is_active"),
    ],
)
async def test_update_rejects_bad_changes_and_keeps_the_item(
    client: httpx.AsyncClient,
    admin: Account,
    catalog: list[Item],
    payload: dict[str, object],
    status: int,
    field: str,
) -> None:
    url = f"{ITEMS}/{catalog[0].id}"
    before = (await client.get(url)).json()
    assert_problem(await client.patch(url, json=payload, headers=admin.headers), status, field)
    assert (await client.get(url)).json() == before


async def test_update_unknown_item_is_404(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.patch(
        f"{ITEMS}/{uuid.uuid4()}", json={"stock": 1}, headers=admin.headers
    )
    assert_problem(response, 404)


async def test_delete_is_soft_and_can_be_undone(
    client: httpx.AsyncClient, container: Container, admin: Account, catalog: list[Item]
) -> None:
    url = f"{ITEMS}/{catalog[0].id}"
    response = await client.delete(url, headers=admin.headers)
    assert response.status_code == 204
    assert_problem(await client.get(url), 404)
    assert "Oak Lamp" not in names(await client.get(ITEMS))
    assert await item_count(container) == 4  # still in the database
    assert (await client.delete(url, headers=admin.headers)).status_code == 204  # idempotent
    restored = await client.patch(url, json={"is_active": True}, headers=admin.headers)
    assert restored.status_code == 200
    assert "Oak Lamp" in names(await client.get(ITEMS))
    assert_problem(await client.delete(f"{ITEMS}/{uuid.uuid4()}", headers=admin.headers), 404)


async def test_database_refuses_negative_stock(container: Container, catalog: list[Item]) -> None:
    """The CHECK constraint holds even for writes that bypass the service."""

    async def force_negative() -> None:
        async with container.session_factory() as session:
            await session.execute(update(Item).where(Item.id == catalog[0].id).values(stock=-1))
            await session.commit()

    with pytest.raises(IntegrityError):
        await force_negative()
