"""Soak (make test-all): 60 s of mixed traffic (catalog pages and items, orders paid in the
same process, order lists, logins) at 64 connections against one API process on PostgreSQL.
No 5xx; resident memory flat within 10 % after a warm-up; no growth of the database
connections the process holds. The figures are printed for the README (pytest -s).

What "flat" is measured on: a login holds an argon2id hash's working memory (64 MiB,
``argon2.DEFAULT_MEMORY_COST``) while it runs, allocated outside Python's heap and unmapped
when the hash ends; the API runs at most one hash per CPU. An RSS sample taken while hashes
run says how many were in flight at that instant (0 to CPUs x 64 MiB: 178 -> 263 MiB in one
run, 47 %), not whether memory grows. So at each sample the logins are held back for a moment
(the rest of the traffic goes on), the ones in flight finish, and RSS is read then: memory
retained by everything including the logins done since the last sample, without the hashes'
transient blocks. Those samples must stay within 10 % of the first one after the warm-up.
The RSS read just before holding the logins back, with whatever hashes are running, must stay
within that 10 % plus CPUs x 64 MiB (the hashing bound, commit c732eb3).

Measured while writing this: the Python heap (tracemalloc) is flat after the warm-up (97 MiB
at 20 s, 95 MiB at the end); without logins RSS goes 133.6 -> 135.9 MiB in 60 s; with them
it swings between ~135 and ~264 MiB and is back to 136 MiB once the traffic stops."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import argon2
import httpx
import pytest

from tests.databases import query
from tests.processes import CUSTOMER_PASSWORD, Process, make_item, register_customer, start_orderly

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SECONDS = 60
WARM_UP = 20
CONNECTIONS = 64
POOL = {"ORDERLY_DATABASE_POOL_SIZE": "8", "ORDERLY_DATABASE_MAX_OVERFLOW": "4"}
HASHING_KIB = (os.cpu_count() or 1) * argon2.DEFAULT_MEMORY_COST  # the API's hashing bound


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def database_connections(url: str) -> int:
    name = url.rsplit("/", 1)[-1]
    [row] = query(
        url,
        f"SELECT count(*) n FROM pg_stat_activity WHERE datname = '{name}'",  # noqa: S608
    )
    return int(row["n"]) - 1  # this query's own connection


class Logins:
    """Lets the sampler hold logins back until none is in flight (no hash running)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.idle = asyncio.Event()
        self.idle.set()
        self.in_flight = 0

    async def send(self, request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        await self.open.wait()
        self.in_flight += 1
        self.idle.clear()
        try:
            return await request()
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        self.open.clear()
        try:
            async with asyncio.timeout(20):  # the logins queued on the server's hashing slots
                await self.idle.wait()
            yield
        finally:
            self.open.set()


async def traffic(
    api: Process, customers: list[dict[str, str]], items: list[str], until: float, logins: Logins
) -> Counter[str]:
    answers: Counter[str] = Counter()
    # Idle connections are dropped by the client before the server's 5 s keep-alive timeout
    # would close them under a request being sent (a ReadError that is not the API's doing).
    limits = httpx.Limits(
        max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS, keepalive_expiry=2
    )
    async with httpx.AsyncClient(base_url=api.base, timeout=30, limits=limits) as http:

        async def user(n: int) -> None:
            rng = random.Random(n)
            customer = customers[n % len(customers)]
            auth = {"Authorization": customer["Authorization"]}
            login = {"username": customer["email"], "password": CUSTOMER_PASSWORD}
            for _ in range(100_000):  # bounded; the clock ends it long before
                if time.monotonic() > until:
                    return
                roll = rng.random()
                if roll < 0.55:
                    response = await http.get("/api/v1/items", params={"limit": 20})
                elif roll < 0.70:
                    response = await http.get(f"/api/v1/items/{rng.choice(items)}")
                elif roll < 0.88:
                    body = {
                        "lines": [{"item_id": rng.choice(items), "quantity": 1}],
                        "payment_method": "pm_card_visa",
                    }
                    response = await http.post("/api/v1/orders", json=body, headers=auth)
                elif roll < 0.97:
                    response = await http.get("/api/v1/orders", headers=auth)
                else:
                    response = await logins.send(
                        lambda: http.post("/api/v1/auth/token", data=login)
                    )
                answers[f"{response.status_code // 100}xx"] += 1

        await asyncio.gather(*(user(n) for n in range(CONNECTIONS)))
    return answers


def test_sixty_seconds_of_mixed_traffic(tmp_path: Path, postgres_url: str) -> None:
    api = start_orderly(
        tmp_path,
        ORDERLY_DATABASE_URL=postgres_url,
        ORDERLY_AUTO_MIGRATE="false",
        ORDERLY_SEED_DEMO_DATA="false",
        ORDERLY_RATE_LIMIT_ENABLED="false",
        ORDERLY_LOG_LEVEL="WARNING",
        **POOL,
    )
    try:
        items = [make_item(postgres_url, stock=1_000_000) for _ in range(20)]
        customers = [register_customer(api.base) for _ in range(16)]
        started = time.monotonic()
        until = started + SECONDS
        # (seconds, RSS with the hashes then running, RSS with none running, connections)
        samples: list[tuple[float, int, int, int]] = []

        async def run() -> Counter[str]:
            logins = Logins()
            load = asyncio.create_task(traffic(api, customers, items, until, logins))
            while not load.done():
                conns = await asyncio.to_thread(database_connections, postgres_url)
                running = rss_kib(api.process.pid)
                async with logins.held():
                    settled = rss_kib(api.process.pid)
                samples.append((time.monotonic() - started, running, settled, conns))
                await asyncio.sleep(5)
            return await load

        answers = asyncio.run(run())
    finally:
        api.stop()

    warm = [s for s in samples if s[0] >= WARM_UP]
    baseline = warm[0][2]
    settled_peak = max(s[2] for s in warm)
    running_peak = max(s[1] for s in warm)
    figures = {
        "answers": dict(answers),
        "requests_per_second": round(sum(answers.values()) / SECONDS),
        "rss_mib_after_warm_up": round(baseline / 1024, 1),
        "rss_mib_peak": round(settled_peak / 1024, 1),
        "rss_growth_percent": round(100 * (settled_peak - baseline) / baseline, 1),
        "rss_mib_peak_while_hashing": round(running_peak / 1024, 1),
        "rss_mib_settled": [round(s[2] / 1024, 1) for s in samples],
        "database_connections": [s[3] for s in samples],
    }
    print(f"\nsoak: {json.dumps(figures)}")
    assert answers["5xx"] == 0
    assert answers["2xx"] > 0
    assert settled_peak <= baseline * 1.10, figures
    assert running_peak <= baseline * 1.10 + HASHING_KIB, figures
    pool_limit = int(POOL["ORDERLY_DATABASE_POOL_SIZE"]) + int(
        POOL["ORDERLY_DATABASE_MAX_OVERFLOW"]
    )
    assert max(s[3] for s in samples) <= pool_limit, figures
    assert max(s[3] for s in warm) <= max(s[3] for s in samples if s[0] < WARM_UP) + 1, figures
