"""The catalog cache in the real application: validators and the usual headers on hits and
304s, versions kept apart, every committed catalog change (and only a committed one) on the
next read, availability levels current while the exact stock figure may lag."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from orderly.container import Container
from orderly.core.config import Settings
from orderly.main import create_app
from orderly.models import Item
from orderly.unit_of_work import ConstraintViolated, SqlUnitOfWork
from tests.conftest import Account, assert_problem
from tests.integration.test_items import add_item

PAGE = "/api/v1/items?limit=20"


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def hits() -> float:
    return counted("orderly_catalog_cache_requests_total", result="hit")


def invalidations() -> float:
    return counted("orderly_catalog_cache_invalidations_total", reason="change")


async def test_a_cached_page_keeps_the_headers_every_answer_gets(
    client: httpx.AsyncClient, container: Container
) -> None:
    await add_item(container, "LAMP-1")
    first = await client.get(PAGE)
    before = hits()
    answered = counted(
        "orderly_http_requests_total", method="GET", route="/api/v1/items", status="304"
    )
    second = await client.get(PAGE)
    assert hits() == before + 1
    assert second.content == first.content
    for answer in (first, second):
        assert answer.headers["etag"] == first.headers["etag"]
        assert answer.headers["cache-control"].startswith("public, max-age=")
        assert "stale-while-revalidate=" in answer.headers["cache-control"]
        assert answer.headers["vary"] == "Accept, X-API-Version"
        assert answer.headers["api-version"] == "1"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert second.headers["x-request-id"] != first.headers["x-request-id"]

    again = await client.get(
        PAGE, headers={"If-None-Match": f"W/{first.headers['etag']}", "X-Request-ID": "r-304"}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert again.headers["x-request-id"] == "r-304"
    assert again.headers["content-security-policy"]
    assert (
        counted("orderly_http_requests_total", method="GET", route="/api/v1/items", status="304")
        == answered + 1
    )


async def test_versions_are_cached_apart(client: httpx.AsyncClient, container: Container) -> None:
    await add_item(container, "LAMP-1", price_minor=1250)
    for _ in range(2):
        v1 = await client.get("/api/items?limit=5")
        v2 = await client.get("/api/items?limit=5", headers={"X-API-Version": "2"})
        by_accept = await client.get(
            "/api/items?limit=5", headers={"Accept": "application/vnd.orderly.v2+json"}
        )
        assert v1.json()["items"][0]["price_minor"] == 1250
        assert v2.json()["items"][0]["price"] == {"amount": "12.50", "currency": "EUR"}
        assert by_accept.content == v2.content
        assert (v1.headers["api-version"], v2.headers["api-version"]) == ("1", "2")
        assert v1.headers["etag"] != v2.headers["etag"]
    assert (await client.get("/api/v1/items?limit=5")).content == v1.content


async def test_every_change_an_admin_commits_is_on_the_next_read(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    lamp = await add_item(container, "LAMP-1", price_minor=1000)
    url = f"/api/v1/items/{lamp.id}"
    page = await client.get(PAGE)
    etag = (await client.get(url)).headers["etag"]

    patched = await client.patch(url, json={"price_minor": 1500}, headers=admin.headers)
    assert patched.status_code == 200, patched.text
    now = await client.get(url, headers={"If-None-Match": etag})
    assert now.status_code == 200
    assert now.json()["price_minor"] == 1500
    assert (await client.get(PAGE)).json()["items"][0]["price_minor"] == 1500

    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert_problem(await client.get(url), 404)
    assert (await client.get(PAGE)).json()["total"] == 0
    restored = await client.patch(url, json={"is_active": True}, headers=admin.headers)
    assert restored.status_code == 200
    assert (await client.get(url)).status_code == 200

    body = {"sku": "NEW-1", "name": "New", "price_minor": 1, "currency": "EUR", "stock": 1}
    assert (await client.post("/api/v1/items", json=body, headers=admin.headers)).status_code == 201
    assert (await client.get(PAGE)).json()["total"] == 2
    assert page.json()["total"] == 1


async def test_the_version_advances_after_the_commit_and_only_then(
    container: Container,
) -> None:
    lamp = await add_item(container, "LAMP-1", price_minor=1000)
    seen: list[int] = []

    async def read_back() -> None:  # what another request reads when told of the change
        async with container.uow(read_only=True) as uow:
            found = await uow.items.view(lamp.id)
        assert found is not None
        seen.append(found.price_minor)

    async with SqlUnitOfWork(container.session_factory, on_catalog_change=read_back) as uow:
        item = await uow.items.get(lamp.id)
        assert item is not None
        item.price_minor = 2000
        await uow.commit()
    assert seen == [2000]

    async def fail_before_commit() -> None:
        async with SqlUnitOfWork(container.session_factory, on_catalog_change=read_back) as uow:
            item = await uow.items.get(lamp.id)
            assert item is not None
            item.price_minor = 3000
            raise RuntimeError("the use case failed before its commit")

    async def fail_at_commit() -> None:
        async with SqlUnitOfWork(container.session_factory, on_catalog_change=read_back) as uow:
            uow.items.add(Item(sku="LAMP-1", name="Twin", price_minor=1, currency="EUR", stock=1))
            await uow.commit()

    with pytest.raises(RuntimeError):
        await fail_before_commit()
    with pytest.raises(ConstraintViolated):
        await fail_at_commit()
    async with SqlUnitOfWork(container.session_factory, on_catalog_change=read_back) as uow:
        await uow.commit()  # nothing of the catalog changed
    assert seen == [2000]


async def test_a_refused_change_drops_nothing(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    await add_item(container, "LAMP-1")
    await client.get(PAGE)
    before = invalidations()
    body = {"sku": "lamp-1", "name": "Twin", "price_minor": 1, "currency": "EUR"}
    assert_problem(await client.post("/api/v1/items", json=body, headers=admin.headers), 409)
    assert invalidations() == before
    assert (await client.get(PAGE)).status_code == 200
    assert hits() > 0


async def order(client: httpx.AsyncClient, who: Account, item: Item, quantity: int) -> Any:
    body = {"lines": [{"item_id": str(item.id), "quantity": quantity}]}
    return await client.post("/api/v1/orders", json=body, headers=who.headers)


async def test_availability_is_current_and_orders_never_trust_the_cache(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    lamp = await add_item(container, "LAMP-1", stock=7)
    url = f"/api/v1/items/{lamp.id}"
    shown = (await client.get(url)).json()
    assert (shown["stock"], shown["availability"]) == (7, "in_stock")

    assert (await order(client, customer, lamp, 1)).status_code == 201  # 6: still in stock
    assert (await client.get(url)).json()["stock"] == 7  # the exact figure may lag
    assert (await order(client, customer, lamp, 1)).status_code == 201  # 5: low
    shown = (await client.get(url)).json()
    assert (shown["stock"], shown["availability"]) == (5, "low")
    placed = await order(client, customer, lamp, 5)
    assert placed.status_code == 201
    sold_out = await client.get(f"/api/v2/items/{lamp.id}")
    assert sold_out.json()["availability"] == "sold_out"
    in_stock = await client.get("/api/v1/items?in_stock=true")
    assert in_stock.json()["total"] == 0

    cancelled = await client.post(
        f"/api/v1/orders/{placed.json()['id']}/cancel", headers=customer.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (await client.get(url)).json()["availability"] == "low"
    assert (await order(client, customer, lamp, 1)).status_code == 201  # 4 left, page says 5
    assert_problem(await order(client, customer, lamp, 5), 409)


async def test_authenticated_reads_are_not_cached(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    await add_item(container, "LAMP-1")
    for _ in range(2):
        answer = await client.get(PAGE, headers=customer.headers)
        assert answer.status_code == 200
        assert "etag" not in answer.headers
        assert "cache-control" not in answer.headers


async def test_the_cache_can_be_turned_off(settings: Settings) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"catalog_cache_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get(f"/api/v1/items?limit=1&x={uuid.uuid4().hex}")
    assert answer.status_code == 200
    assert "etag" not in answer.headers
