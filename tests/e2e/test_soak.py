"""Soak (make test-all): 60 s of mixed traffic (catalog pages and items, orders paid in the
same process, order lists, logins) at 64 connections against one API process on PostgreSQL.
No 5xx; resident memory flat within 10 % after a warm-up; no growth of the database
connections the process holds. The figures are printed for the README (pytest -s)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.databases import query
from tests.processes import CUSTOMER_PASSWORD, Process, make_item, register_customer, start_orderly

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SECONDS = 60
WARM_UP = 20
CONNECTIONS = 64
POOL = {"ORDERLY_DATABASE_POOL_SIZE": "8", "ORDERLY_DATABASE_MAX_OVERFLOW": "4"}


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


async def traffic(
    api: Process, customers: list[dict[str, str]], items: list[str], until: float
) -> Counter[str]:
    answers: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=api.base, timeout=30, limits=limits) as http:

        async def user(n: int) -> None:
            rng = random.Random(n)
            customer = customers[n % len(customers)]
            auth = {"Authorization": customer["Authorization"]}
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
                    login = {"username": customer["email"], "password": CUSTOMER_PASSWORD}
                    response = await http.post("/api/v1/auth/token", data=login)
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
        samples: list[tuple[float, int, int]] = []

        async def run() -> Counter[str]:
            load = asyncio.create_task(traffic(api, customers, items, until))
            while not load.done():
                conns = await asyncio.to_thread(database_connections, postgres_url)
                samples.append((time.monotonic() - started, rss_kib(api.process.pid), conns))
                await asyncio.sleep(5)
            return await load

        answers = asyncio.run(run())
    finally:
        api.stop()

    warm = [s for s in samples if s[0] >= WARM_UP]
    baseline_rss = warm[0][1]
    peak_rss = max(s[1] for s in warm)
    figures = {
        "answers": dict(answers),
        "requests_per_second": round(sum(answers.values()) / SECONDS),
        "rss_mib_after_warm_up": round(baseline_rss / 1024, 1),
        "rss_mib_peak": round(peak_rss / 1024, 1),
        "rss_growth_percent": round(100 * (peak_rss - baseline_rss) / baseline_rss, 1),
        "database_connections": [s[2] for s in samples],
    }
    print(f"\nsoak: {json.dumps(figures)}")
    assert answers["5xx"] == 0
    assert answers["2xx"] > 0
    assert peak_rss <= baseline_rss * 1.10, figures
    pool_limit = int(POOL["ORDERLY_DATABASE_POOL_SIZE"]) + int(
        POOL["ORDERLY_DATABASE_MAX_OVERFLOW"]
    )
    assert max(s[2] for s in samples) <= pool_limit, figures
    assert max(s[2] for s in warm) <= max(s[2] for s in samples if s[0] < WARM_UP) + 1, figures
