"""Many concurrent orders against a real uvicorn process on PostgreSQL: no oversell, no deadlock,
one order per idempotency key."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from orderly.container import Container
from orderly.models import Item
from tests.conftest import TEST_SECRET, Account, make_account
from tests.integration.test_items import add_item
from tests.processes import Process, start_orderly

pytestmark = pytest.mark.postgres

CONNECTIONS = 50  # concurrent HTTP connections the load opens at most
DEADLINE = 90.0  # seconds any one burst may take
# who places it, the body, extra headers
Request = tuple[Account, dict[str, object], dict[str, str]]


@pytest.fixture(scope="module")
def server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = start_orderly(
        tmp_path_factory.mktemp("orderly"),
        ORDERLY_DATABASE_URL=postgres_url,
        ORDERLY_SECRET_KEY=TEST_SECRET,
        ORDERLY_SEED_DEMO_DATA="false",
        ORDERLY_DATABASE_POOL_SIZE="10",
        ORDERLY_DATABASE_MAX_OVERFLOW="10",
    )
    yield process
    process.stop()


@pytest.fixture
async def buyers(postgres_container: Container) -> list[Account]:
    tag = uuid.uuid4().hex[:6]
    return [await make_account(postgres_container, f"buyer{n}-{tag}@example.com") for n in range(8)]


async def burst(server: Process, requests: list[Request]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=60) as http:

        async def one(
            account: Account, body: dict[str, object], extra: dict[str, str]
        ) -> httpx.Response:
            return await http.post(
                "/api/v1/orders", json=body, headers={**account.headers, **extra}
            )

        async with asyncio.timeout(DEADLINE):
            return await asyncio.gather(*(one(*request) for request in requests))


async def stock_of(postgres_container: Container, *items: Item) -> list[int]:
    async with postgres_container.uow() as uow:
        found = {i.id: i.stock for i in await uow.items.get_many([i.id for i in items])}
    return [found[i.id] for i in items]


def body(*pairs: tuple[Item, int]) -> dict[str, object]:
    return {"lines": [{"item_id": str(item.id), "quantity": qty} for item, qty in pairs]}


async def test_200_concurrent_orders_for_50_in_stock_sell_exactly_50(
    server: Process, postgres_container: Container, buyers: list[Account]
) -> None:
    item = await add_item(postgres_container, f"HOT-{uuid.uuid4().hex[:6]}", stock=50)
    requests: list[Request] = [(buyers[n % len(buyers)], body((item, 1)), {}) for n in range(200)]
    responses = await burst(server, requests)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 50, 409: 150}, codes
    assert all(
        r.json()["type"] == "urn:orderly:problem:insufficient-stock"
        for r in responses
        if r.status_code == 409
    )
    assert await stock_of(postgres_container, item) == [0]
    async with postgres_container.uow() as uow:
        _, placed = await uow.orders.page(limit=1, offset=0)
    assert placed == 50


async def test_opposite_line_orders_do_not_deadlock_and_conserve_stock(
    server: Process, postgres_container: Container, buyers: list[Account]
) -> None:
    a = await add_item(postgres_container, f"A-{uuid.uuid4().hex[:6]}", stock=70)
    b = await add_item(postgres_container, f"B-{uuid.uuid4().hex[:6]}", stock=70)
    requests: list[Request] = [
        (buyers[n % len(buyers)], body((a, 1), (b, 1)) if n % 2 else body((b, 1), (a, 1)), {})
        for n in range(100)
    ]
    responses = await burst(server, requests)
    codes = Counter(r.status_code for r in responses)
    assert set(codes) <= {201, 409}, codes  # never a 500 (a deadlock would be one)
    assert codes[201] == 70
    assert await stock_of(postgres_container, a, b) == [70 - codes[201], 70 - codes[201]]


async def test_20_concurrent_retries_with_one_key_make_one_order(
    server: Process, postgres_container: Container, buyers: list[Account]
) -> None:
    item = await add_item(postgres_container, f"KEY-{uuid.uuid4().hex[:6]}", stock=100)
    key = {"Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    responses = await burst(server, [(buyers[0], body((item, 2)), key) for _ in range(20)])
    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses]
    assert Counter(r.status_code for r in responses)[201] == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert await stock_of(postgres_container, item) == [98]
