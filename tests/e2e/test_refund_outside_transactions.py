"""No connection is held while the payment provider answers: with a pool of ONE database
connection and a provider that takes 10 s to refund, cancelling a paid order answers at once,
other requests are served meanwhile, and the order ends cancelled with exactly one refund.
A real uvicorn process on PostgreSQL, the in-process job runner, the provider as a process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orderly.container import Container
from tests.conftest import TEST_SECRET, Account, make_account
from tests.integration.test_items import add_item
from tests.processes import Process, start_fake_provider, start_orderly

pytestmark = pytest.mark.postgres

REFUND_SECONDS = 10.0
SERVED_WITHIN = 3.0  # seconds another request may take while the refund is pending
DEADLINE = 40.0  # seconds the whole story may take


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = start_fake_provider(tmp_path_factory.mktemp("provider"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def server(
    postgres_url: str, provider: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    process = start_orderly(
        tmp_path_factory.mktemp("orderly"),
        ORDERLY_DATABASE_URL=postgres_url,
        ORDERLY_SECRET_KEY=TEST_SECRET,
        ORDERLY_SEED_DEMO_DATA="false",
        ORDERLY_DATABASE_POOL_SIZE="1",
        ORDERLY_DATABASE_MAX_OVERFLOW="0",
        ORDERLY_DATABASE_POOL_TIMEOUT="5",
        ORDERLY_RELAY_INTERVAL="0.1",
        ORDERLY_PAYMENT_PROVIDER_URL=provider.base,
        ORDERLY_PAYMENT_TIMEOUT=str(REFUND_SECONDS + 5),
    )
    yield process
    process.stop()


async def status_of(http: httpx.AsyncClient, order_id: str, who: Account) -> str:
    response = await http.get(f"/api/v1/orders/{order_id}", headers=who.headers)
    response.raise_for_status()
    status: str = response.json()["status"]
    return status


async def wait_for(http: httpx.AsyncClient, order_id: str, who: Account, wanted: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while (status := await status_of(http, order_id, who)) != wanted:
        assert time.monotonic() < deadline, f"order still {status}, expected {wanted}"
        await asyncio.sleep(0.1)


async def test_a_slow_refund_holds_no_connection(
    server: Process, provider: Process, postgres_container: Container
) -> None:
    customer = await make_account(postgres_container, f"slow-{uuid.uuid4().hex[:6]}@example.com")
    item = await add_item(postgres_container, f"SLOW-{uuid.uuid4().hex[:6]}", stock=5)
    body = {"lines": [{"item_id": str(item.id), "quantity": 2}], "payment_method": "pm_card_visa"}
    async with httpx.AsyncClient(base_url=server.base, timeout=DEADLINE) as http:
        placed = await http.post("/api/v1/orders", json=body, headers=customer.headers)
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        await wait_for(http, order_id, customer, "paid")

        await control(provider, latency_ms=int(REFUND_SECONDS * 1000))
        try:
            started = time.monotonic()
            cancelled = await http.post(
                f"/api/v1/orders/{order_id}/cancel",
                json={"reason": "slow"},
                headers=customer.headers,
            )
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelling"
            assert time.monotonic() - started < SERVED_WITHIN

            await asyncio.sleep(1.0)  # the job runner has taken the refund to the provider
            for path in (f"/api/v1/items/{item.id}", f"/api/v1/orders/{order_id}"):
                started = time.monotonic()
                served = await http.get(path, headers=customer.headers)
                assert served.status_code == 200, served.text
                assert time.monotonic() - started < SERVED_WITHIN, path
            assert await status_of(http, order_id, customer) == "cancelling"
            assert (await stats(provider))["refunds"] == {}  # still waiting on the provider
        finally:
            await control(provider, latency_ms=0)

        await wait_for(http, order_id, customer, "cancelled")
        assert (await stats(provider))["refunds"] == {f"order-{order_id}-refund": 1}
        stock = (await http.get(f"/api/v1/items/{item.id}")).json()["stock"]
        assert stock == 5


async def control(provider: Process, **changes: object) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        (await http.post(f"{provider.base}/_control", json=changes)).raise_for_status()


async def stats(provider: Process) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as http:
        found: dict[str, Any] = (await http.get(f"{provider.base}/_stats")).json()
        return found
