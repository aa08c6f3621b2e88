"""GraphQL protections: depth, alias and token limits, the schema file, introspection and
error masking in production, a fixed number of statements per myOrders page whatever its
size, and dataloaders that never share rows between requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.graphql.sdl import sdl
from orderly.main import create_app
from orderly.services.orders import NewLine
from tests.conftest import Account, make_account
from tests.databases import empty_all_tables
from tests.integration.graphql_helpers import data, error, gql
from tests.integration.test_items import add_item

ROOT = Path(__file__).resolve().parents[2]


def test_schema_file_matches_the_code() -> None:
    written = (ROOT / "schema.graphql").read_text()
    assert written == sdl(), (
        "schema.graphql is stale: python -m orderly.graphql.sdl > schema.graphql"
    )


async def test_depth_aliases_and_size_are_limited(
    client: httpx.AsyncClient, customer: Account
) -> None:
    deepest = "{ myOrders { edges { node { lines { item { price { amount } } } } } } }"
    assert data(await gql(client, deepest, account=customer))  # 7 deep: allowed
    body = await gql(
        client,
        "{ myOrders { edges { node { " + "lines { " * 17 + "quantity" + " }" * 17 + " } } } }",
        account=customer,
    )
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert "query-too-deep" in codes, body
    assert body.get("data") is None
    depth = next(e for e in body["errors"] if e["extensions"]["code"] == "query-too-deep")
    assert "exceeds maximum operation depth of 10" in depth["message"]
    aliases = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(31)) + " }"
    found = error(await gql(client, aliases, account=customer), "too-many-aliases")
    assert "aliases" in found["message"]
    fragments = "query Q { ...A } fragment A on Query { "
    fragments += " ".join(f"a{n}: me {{ id }}" for n in range(31)) + " }"
    error(await gql(client, fragments, account=customer), "too-many-aliases")
    thousand = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(1000)) + " }"
    found = error(await gql(client, thousand, account=customer), "query-too-large")
    assert "tokens" in found["message"]


@pytest.fixture
async def production(settings: Settings) -> Any:
    """The app as production runs it (sqlite allowed here: the check is about GraphQL)."""
    values = settings.model_dump()
    values.update(environment=Environment.TEST, graphql_ide=False, graphql_introspection=False)
    app = create_app(Settings(_env_file=None, **values))
    async with app.router.lifespan_context(app):
        yield app
        await empty_all_tables(app.state.container.engine)


async def test_introspection_and_graphiql_follow_settings(
    client: httpx.AsyncClient, production: FastAPI
) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith(
        "default-src 'none'; script-src 'self'"
    )
    assert "graphiql.min.js" in page.text
    assert "unpkg" not in page.text
    assert (await client.get("/graphql/static/graphiql-init.js")).status_code == 200
    assert data(await gql(client, "{ __schema { queryType { name } } }"))
    transport = httpx.ASGITransport(app=production)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as closed:
        assert (await closed.get("/graphql", headers={"Accept": "text/html"})).status_code == 404
        assert (await closed.get("/graphql/static/graphiql-init.js")).status_code == 404
        refused = await gql(closed, "{ __schema { queryType { name } } }")
        assert {e["extensions"]["code"] for e in refused["errors"]} == {"introspection-disabled"}
        assert data(await gql(closed, "{ items { edges { node { id } } } }"))


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = container.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


MY_ORDERS = """{ myOrders(first: 50) { edges { node { id status
  lines { quantity item { name price { amount } } } payments { status }
  timeline { sequence type } } } } }"""


async def test_my_orders_runs_the_same_statements_for_1_10_and_50_orders(
    client: httpx.AsyncClient, container: Container
) -> None:
    counts = []
    for n, size in enumerate([1, 10, 50]):
        account = await make_account(container, f"buyer{n}@example.com")
        items = [await add_item(container, f"N{n}-{k}", stock=100) for k in range(3)]
        for k in range(size):
            lines = [
                NewLine(item_id=items[k % 3].id, quantity=1),
                NewLine(items[(k + 1) % 3].id, 2),
            ]
            await container.orders.place(customer=account.user, lines=lines)
        with statements(container) as seen:
            found = data(await gql(client, MY_ORDERS, account=account))["myOrders"]["edges"]
        assert len(found) == size
        assert all(len(e["node"]["lines"]) == 2 and e["node"]["timeline"] for e in found)
        counts.append(len(seen))
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= 6, counts  # the user, the page with its lines, timelines, items, payments


async def test_loaders_never_share_rows_between_requests(
    client: httpx.AsyncClient, container: Container
) -> None:
    buyers = [await make_account(container, f"p{n}@example.com") for n in range(2)]
    for n, buyer in enumerate(buyers):
        item = await add_item(container, f"OWN-{n}", name=f"only for {n}")
        await container.orders.place(customer=buyer.user, lines=[NewLine(item.id, 1)])
    query = "{ myOrders { edges { node { userId lines { item { name } } } } } }"
    for _ in range(5):
        answers = await asyncio.gather(*(gql(client, query, account=b) for b in buyers * 4))
        for buyer, answer in zip(buyers * 4, answers, strict=True):
            (edge,) = data(answer)["myOrders"]["edges"]
            assert edge["node"]["userId"] == str(buyer.user.id)
            n = buyers.index(buyer)
            assert edge["node"]["lines"][0]["item"]["name"] == f"only for {n}"
