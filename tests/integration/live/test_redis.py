"""Live status through the real Redis (a key prefix and channel of the test's own): a change
committed behind one app reaches the streams of another; after the listener's connection is
killed it reconnects, and its clients get a fresh snapshot, then the next changes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from fastapi import FastAPI
from prometheus_client import REGISTRY

from orderly.core.config import Settings
from orderly.events.live_redis import listener_name
from orderly.main import create_app
from tests.conftest import make_account
from tests.databases import empty_all_tables, unavailable
from tests.integration.test_items import add_item
from tests.integration.test_orders import ORDERS, lines, place
from tests.live_client import SseReader, serve, step
from tests.services import ServiceSettings


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(ServiceSettings().redis_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable("Redis", error)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"orderly-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def two_apps(
    settings: Settings, prefix: str, redis_client: redis.Redis
) -> AsyncIterator[tuple[FastAPI, str, str]]:
    """App A runs the in-process jobs (its changes go out through Redis); app B only serves
    streams, fed by its listener. Yields A and both base URLs."""
    common = {
        "redis_url": ServiceSettings().redis_url,
        "redis_key_prefix": prefix,
        "relay_interval": 0.05,
        "live_heartbeat": 0.3,
        "rate_limit_enabled": False,
    }
    a = create_app(settings.model_copy(update={**common, "embedded_jobs": True}))
    b = create_app(settings.model_copy(update={**common, "embedded_jobs": False}))
    async with serve(a) as url_a, serve(b) as url_b:
        for _ in range(100):  # until both listeners are subscribed
            if subscribers(redis_client, prefix) >= 2:
                break
            await asyncio.sleep(0.05)
        yield a, url_a, url_b
        await empty_all_tables(a.state.container.engine)


def subscribers(client: redis.Redis, prefix: str) -> int:
    ((_, count),) = client.pubsub_numsub(f"{prefix}:live")
    return int(count)


def kill_listeners(client: redis.Redis, prefix: str) -> int:
    """CLIENT KILL on the listener connections of this test's apps (by their name)."""
    killed = 0
    for entry in client.client_list():
        if entry.get("name") == listener_name(prefix):
            client.client_kill_filter(_id=entry["id"])
            killed += 1
    return killed


def reconnects() -> float:
    return REGISTRY.get_sample_value("orderly_live_listener_reconnects_total") or 0.0


async def test_changes_cross_apps_and_a_reconnected_listener_resyncs_its_clients(
    two_apps: tuple[FastAPI, str, str], prefix: str, redis_client: redis.Redis
) -> None:
    a, url_a, url_b = two_apps
    carol = await make_account(a.state.container, "carol@example.com")
    lamp = await add_item(a.state.container, "LAMP-R", name="Lamp", price_minor=900, stock=5)
    async with (
        httpx.AsyncClient(base_url=url_a, timeout=10) as api_a,
        httpx.AsyncClient(base_url=url_b, timeout=10) as api_b,
    ):
        order_id = (await place(api_a, carol, lines((lamp, 1)))).json()["id"]
        url = f"{ORDERS}/{order_id}/events"
        async with api_b.stream("GET", url, headers=carol.headers) as response:
            events = SseReader(response)
            assert (await events.next_named()).json()["status"] == "pending_payment"
            paid = await api_a.post(
                f"{ORDERS}/{order_id}/pay",
                json={"payment_method": "pm_card_visa"},
                headers=carol.headers,
            )
            assert paid.status_code == 200
            change = await events.next_named()
            assert step(change.json()) == (2, "order.paid", "pending_payment", "paid")

            before = reconnects()
            assert kill_listeners(redis_client, prefix) == 2  # both apps' listeners
            fresh = await events.next_named(wait=10)
            assert (fresh.event, fresh.id, fresh.json()["status"]) == ("snapshot", "2", "paid")
            assert reconnects() >= before + 1
            for _ in range(100):  # A's listener back too before the next change
                if subscribers(redis_client, prefix) >= 2:
                    break
                await asyncio.sleep(0.05)
            cancelled = await api_a.post(f"{ORDERS}/{order_id}/cancel", headers=carol.headers)
            assert cancelled.status_code == 200, cancelled.text
            after = await events.next_named(wait=10)
            assert (after.event, after.id) == ("change", "3")
            assert after.json()["to_status"] in {"cancelling", "cancelled"}
