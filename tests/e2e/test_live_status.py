"""Live status on real processes, PostgreSQL and Redis: two API processes, the relay and a
Celery worker. A client on API B sees an order placed on API A go pending_payment -> paid
(charged by the worker) in order and within 2 s of the commit; Redis restarted under a
connected client (slow); 200 idle SSE clients on one process (slow). Bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.e2e.conftest import redis_under_own_prefix
from tests.faults import outage
from tests.live_client import SseEvent, SseReader
from tests.processes import Process, Stack, make_item
from tests.services import ServiceSettings

pytestmark = pytest.mark.postgres
FEED = "/api/v1/orders/events"


class Live:
    def __init__(self, stack: Stack, api_b: Process, item: str) -> None:
        self.stack, self.api_b, self.item = stack, api_b, item

    def place(self, customer: dict[str, str]) -> str:
        return self.stack.order(customer, self.item)  # on API A, paid by the worker


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Live]:
    broker = next(cleanup := redis_under_own_prefix())
    settings = {
        "ORDERLY_DATABASE_URL": postgres_url,
        **broker,
        "ORDERLY_REDIS_URL": ServiceSettings().redis_url,
        "ORDERLY_SECRET_KEY": TEST_SECRET,
        "ORDERLY_RELAY_INTERVAL": "0.2",
        "ORDERLY_LIVE_HEARTBEAT": "2",
        "ORDERLY_LIVE_MAX_PER_USER": "250",
        "ORDERLY_RATE_LIMIT_ENABLED": "false",
    }
    stack = Stack(tmp_path_factory.mktemp("live"), settings)
    try:
        yield Live(stack, stack.start_api(), make_item(postgres_url, stock=1000))
    finally:
        stack.stop()
        with contextlib.suppress(StopIteration):
            next(cleanup)


@contextlib.asynccontextmanager
async def feed(base: str, customer: dict[str, str]) -> AsyncIterator[SseReader]:
    headers = {"Authorization": customer["Authorization"]}
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("GET", FEED, headers=headers) as response,
    ):
        assert response.status_code == 200
        events = SseReader(response)
        assert (await events.next_named()).event == "snapshot"
        yield events


async def changes_of(
    events: SseReader, order_id: str, until: str, wait: float = 30
) -> list[tuple[SseEvent, float]]:
    """The order's changes with the time each arrived, up to the one moving to ``until``."""
    got: list[tuple[SseEvent, float]] = []
    async with asyncio.timeout(wait):
        while not got or got[-1][0].json()["to_status"] != until:
            event = await events.next_named(wait=wait)
            if event.event == "change" and event.json()["order_id"] == order_id:
                got.append((event, time.time()))
    return got


async def test_a_client_on_api_b_sees_an_order_placed_on_a_paid_by_the_worker(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = live.stack.customer()
    async with feed(live.api_b.base, customer) as events:
        order_id = await asyncio.to_thread(live.place, customer)
        got = await changes_of(events, order_id, until="paid")
    steps = [(e.json()["sequence"], e.json()["from_status"], e.json()["to_status"]) for e, _ in got]
    assert steps == [(1, None, "pending_payment"), (2, "pending_payment", "paid")]
    paid, arrived = got[-1]
    assert paid.json()["actor_kind"] == "worker"
    delay = arrived - datetime.fromisoformat(paid.json()["occurred_at"]).timestamp()
    with capsys.disabled():
        print(f"\npaid reached API B's client {delay * 1000:.0f} ms after its commit")
    assert delay < 2.0, f"paid reached API B's client {delay:.2f}s after its commit"


@pytest.mark.slow
@pytest.mark.servers
async def test_a_client_learns_the_next_change_after_redis_restarts(live: Live) -> None:
    customer = live.stack.customer()
    async with feed(live.api_b.base, customer) as events:
        with outage("redis"):  # started again whatever happens, and waited for
            await asyncio.sleep(2)  # a short outage: other suites share this Redis
        fresh = await events.next_named(wait=20)  # the listener is back: a fresh snapshot
        assert fresh.event == "snapshot"
        order_id = await asyncio.to_thread(live.place, customer)
        got = await changes_of(events, order_id, until="paid", wait=60)
    assert [e.json()["to_status"] for e, _ in got] == ["pending_payment", "paid"]


def rss_kib(process: Process) -> int:
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def timed_get(http: httpx.AsyncClient, path: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    answer = await http.get(path, **kwargs)
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


@pytest.mark.slow
async def test_200_idle_sse_clients_leave_the_api_responsive_and_its_memory_bounded(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = live.stack.customer()
    headers = {"Authorization": customer["Authorization"]}
    order_id = await asyncio.to_thread(live.place, customer)
    limits = httpx.Limits(max_connections=260, max_keepalive_connections=20)
    async with (
        httpx.AsyncClient(base_url=live.api_b.base, timeout=30, limits=limits) as http,
        contextlib.AsyncExitStack() as streams,
    ):
        await timed_get(http, "/health/live")
        before = rss_kib(live.api_b)
        started = time.perf_counter()
        readers = []  # kept: a reader dropped closes its response
        for _ in range(200):
            response = await streams.enter_async_context(
                http.stream("GET", f"/api/v1/orders/{order_id}/events", headers=headers)
            )
            assert response.status_code == 200
            readers.append(SseReader(response))
            assert (await readers[-1].next_named()).event == "snapshot"
        opened = time.perf_counter() - started
        with_streams = rss_kib(live.api_b)
        health = [await timed_get(http, "/health/live") for _ in range(5)]
        listing = [await timed_get(http, "/api/v1/orders", headers=headers) for _ in range(5)]
        metrics = (await http.get("/metrics")).text.splitlines()
        open_sse = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics
            if line.startswith("orderly_live_connections_open{") and 'transport="sse"' in line
        ]
        assert open_sse == [200.0], [m for m in metrics if "orderly_live" in m]
    with capsys.disabled():
        print(
            f"\n200 SSE clients: opened in {opened:.1f}s; RSS {before // 1024} -> "
            f"{with_streams // 1024} MiB (+{(with_streams - before) / 200:.0f} KiB per stream); "
            f"/health/live max {max(health) * 1000:.0f} ms, /api/v1/orders max "
            f"{max(listing) * 1000:.0f} ms"
        )
    assert max(health) < 1.0
    assert max(listing) < 2.0
    assert with_streams - before < 100 * 1024, "more than 100 MiB for 200 idle streams"
