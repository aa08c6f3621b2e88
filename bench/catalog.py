"""The catalog cache's scenarios (issue 13), run by ``bench/run.py`` beside scenario 1:

- 1c: scenario 1 with the cache warm (scenario 1 itself runs with the cache off);
- 1n: the same page with ``If-None-Match`` its ETag (304s);
- 1m: the page read while orders are placed on the same server (req/s, p99, hit rate);
- ``precomputed``: FastAPI answering the same bytes from one route (the target's reference);
- the peer (``peer.py``, full-stack-fastapi-template's items list) when ``BENCH_PEER_DIR`` is set.

Also the factory ``uvicorn --factory --app-dir bench catalog:precomputed``.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Response
from prometheus_client.parser import text_string_to_metric_families

import peer
from harness import Result, run_wrk, uvicorn_server

PAGE = "/api/v1/items?limit=20"


def precomputed() -> FastAPI:
    """FastAPI with one route answering the bytes of scenario 1 (no middleware, no work)."""
    body = Path(os.environ["BENCH_RAW_BODY"]).read_bytes()
    app = FastAPI()

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/items")
    async def items() -> Response:
        return Response(body, media_type="application/json")

    return app


def cache_lookups(base: str) -> dict[str, float]:
    """The cache's counters from the server's /metrics, by result (hit, miss, ...)."""
    text = httpx.get(base + "/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "orderly_catalog_cache_requests_total":
                counts[sample.labels["result"]] = sample.value
    return counts


def hit_rate(before: dict[str, float], after: dict[str, float]) -> float:
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    asked = sum(delta.get(k, 0.0) for k in ("hit", "miss", "coalesced"))
    return delta.get("hit", 0.0) / asked if asked else float("nan")


def both(first: Callable[[], Result], second: Callable[[], Result]) -> tuple[Result, Result]:
    """Two wrk runs at the same time (each in its own thread: wrk is a process)."""
    out: dict[int, Result] = {}
    threads = [
        threading.Thread(target=lambda n=n, f=f: out.__setitem__(n, f()))
        for n, f in enumerate((first, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out[0], out[1]


def run_cached(
    folder: Path,
    env: dict[str, str],
    order_script: Path,
    *,
    seconds: int,
    warmup: int,
    report: Callable[[Result], None],
) -> tuple[dict[str, Result], dict[str, Any]]:
    """The cache-on server's scenarios, then FastAPI answering precomputed bytes."""
    results: dict[str, Result] = {}
    extras: dict[str, Any] = {}
    fresh = {"BENCH_RUN": uuid.uuid4().hex}

    def measure(key: str, name: str, url: str, script: Path | None = None) -> None:
        run_wrk("warm-up", url, seconds=warmup, script=script, env=fresh)
        results[key] = run_wrk(name, url, seconds=seconds, script=script, env=fresh)
        report(results[key])

    server = uvicorn_server("apps:full", env=env, log=folder / "cached.log")
    try:
        server.wait_ready()
        etag = httpx.get(server.base + PAGE, timeout=10).headers["etag"]
        measure("s1c", "1c GET /api/v1/items?limit=20, cache warm", server.base + PAGE)
        not_modified = folder / "not-modified.lua"
        not_modified.write_text(
            f"wrk.headers['If-None-Match'] = '{etag}'\n" + (folder / "plain.lua").read_text()
        )
        measure("s1n", "1n the same with If-None-Match (304)", server.base + PAGE, not_modified)
        before = cache_lookups(server.base)
        half: dict[str, Any] = {"seconds": seconds, "connections": 16, "env": fresh}
        reads, orders = both(
            lambda: run_wrk("1m reads while orders are placed", server.base + PAGE, **half),
            lambda: run_wrk(
                "1m   the orders placed meanwhile", server.base, script=order_script, **half
            ),
        )
        extras["mixed_hit_rate"] = round(hit_rate(before, cache_lookups(server.base)), 4)
        results["s1m"], results["s1m_orders"] = reads, orders
        report(reads)
        report(orders)
        print(f"  hit rate of the reads: {extras['mixed_hit_rate']:.1%}", flush=True)
    finally:
        server.stop()
    fixed = uvicorn_server(
        "catalog:precomputed",
        env={**env, "BENCH_RAW_BODY": str(folder / "items.json")},
        log=folder / "precomputed.log",
    )
    try:
        fixed.wait_ready()
        measure("fixed", "FastAPI answering the same bytes", fixed.base + PAGE)
    finally:
        fixed.stop()
    checkout = peer.configured()
    if checkout is not None:
        results["peer"], extras["peer_python"] = peer.run(
            checkout, env["ORDERLY_DATABASE_URL"], folder, seconds=seconds, warmup=warmup
        )
        report(results["peer"])
    return results, extras


def compare_peer(results: dict[str, Result], extras: dict[str, Any]) -> None:
    """The peer's line under the ratios: scenario 1 against it, or how to run it."""
    if "peer" in results:
        extras["peer"] = peer.summary(results, extras.pop("peer_python"))
    else:
        print(peer.HINT, flush=True)


PAIRS = [
    ("1 GET /api/v1/items?limit=20, cache off", "s1", "hand1", "FastAPI+asyncpg"),
    ("1c GET /api/v1/items?limit=20, cache warm", "s1c", "raw", "raw ASGI, same bytes"),
    ("1c GET /api/v1/items?limit=20, cache warm", "s1c", "fixed", "FastAPI, precomputed bytes"),
    ("1n the same page, If-None-Match (304)", "s1n", "raw", "raw ASGI, same bytes"),
    ("1m page reads while orders are placed", "s1m", "s1c", "1c alone (cache warm)"),
    ("1 GET /api/v1/items?limit=20, cache off", "s1", "peer", peer.NAME),
    ("1c GET /api/v1/items?limit=20, cache warm", "s1c", "peer", peer.NAME),
]
