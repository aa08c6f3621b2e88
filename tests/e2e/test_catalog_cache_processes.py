"""The catalog cache across two real API processes on one PostgreSQL and one Redis: a price
changed through A is on B within a second, and after Redis restarts (B's listener away, then
back) B serves no page from before the change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orderly.container import Container
from orderly.models import Role
from tests.conftest import TEST_SECRET, make_account
from tests.e2e.conftest import redis_under_own_prefix
from tests.faults import outage
from tests.integration.test_items import add_item
from tests.processes import Process, start_orderly

pytestmark = pytest.mark.postgres
WITHIN = 1.0  # seconds for a change to reach the other process


@pytest.fixture(scope="module")
def apis(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Process]]:
    for broker in redis_under_own_prefix():
        settings = {
            "ORDERLY_DATABASE_URL": postgres_url,
            "ORDERLY_REDIS_URL": broker["ORDERLY_BROKER_URL"],
            "ORDERLY_REDIS_KEY_PREFIX": broker["ORDERLY_REDIS_KEY_PREFIX"],
            "ORDERLY_SECRET_KEY": TEST_SECRET,
            "ORDERLY_SEED_DEMO_DATA": "false",
            "ORDERLY_RATE_LIMIT_ENABLED": "false",
            "ORDERLY_CATALOG_CACHE_TTL": "60",  # only invalidation may refresh a page here
        }
        work = tmp_path_factory.mktemp("catalog-cache")
        started = [start_orderly(Path(work), **settings) for _ in range(2)]
        try:
            yield started
        finally:
            for api in started:
                api.stop()


def price_on(api: Process, item_id: str) -> int:
    answer = httpx.get(f"{api.base}/api/v1/items/{item_id}", timeout=5)
    assert answer.status_code == 200, answer.text
    price: int = answer.json()["price_minor"]
    return price


def change_price(api: Process, item_id: str, price: int, token: str) -> None:
    answer = httpx.patch(
        f"{api.base}/api/v1/items/{item_id}",
        json={"price_minor": price},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def cached(api: Process, item_id: str) -> bool:
    """B answers from its cache (a second read is a hit: the ETag is stable)."""
    first = httpx.get(f"{api.base}/api/v1/items/{item_id}", timeout=5)
    return "etag" in first.headers


def arrives(api: Process, item_id: str, price: int, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within + 5:
        if price_on(api, item_id) == price:
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"price {price} not on {api.base} within {within + 5} s")


async def test_a_change_through_one_process_is_on_the_other_within_a_second(
    apis: list[Process], postgres_container: Container
) -> None:
    a, b = apis
    item_id = str((await add_item(postgres_container, "CACHE-E2E-1", price_minor=1000)).id)
    admin = await make_account(postgres_container, "cache-admin-1@example.com", role=Role.ADMIN)
    for price in (1100, 1200, 1300):
        assert price_on(b, item_id) == price - 100
        assert price_on(b, item_id) == price - 100  # served from B's cache
        change_price(a, item_id, price, admin.access_token)
        assert price_on(a, item_id) == price  # the writer reads its write
        assert arrives(b, item_id, price, WITHIN) < WITHIN


@pytest.mark.slow  # stops the machine's Redis for a few seconds; about 15 s
@pytest.mark.servers
async def test_after_redis_restarts_no_page_from_before_a_change_is_served(
    apis: list[Process], postgres_container: Container
) -> None:
    a, b = apis
    item_id = str((await add_item(postgres_container, "CACHE-E2E-2", price_minor=2000)).id)
    admin = await make_account(postgres_container, "cache-admin-2@example.com", role=Role.ADMIN)
    assert price_on(b, item_id) == 2000
    assert cached(b, item_id)
    with outage("redis"):
        await asyncio.sleep(1.0)  # B's listener notices and stops serving from memory
        change_price(a, item_id, 2500, admin.access_token)  # A cannot publish it
        assert price_on(b, item_id) == 2500  # B reads the database meanwhile
        await asyncio.sleep(1.0)
    # The listener resubscribes with backoff (at most 5 s) and drops what it held; every read
    # from now on shows the change, whether B answers from the database or from its cache.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert price_on(b, item_id) == 2500
        await asyncio.sleep(0.1)
    change_price(a, item_id, 2600, admin.access_token)  # pub/sub works again
    assert arrives(b, item_id, 2600, WITHIN) < WITHIN
