"""Profile orderly's hot paths in-process with pyinstrument; part of ``make bench``.

    .venv/bin/python bench/profile.py [--requests 400]

Seeds the same PostgreSQL database as bench/run.py, builds the application with the
benchmark's settings and sends scenarios 1-4 through the whole ASGI stack (middleware,
routing, services, SQLAlchemy, asyncpg) with httpx's in-process transport, 8 requests at a
time. For each scenario it prints and saves the CPU time per request without the profiler,
the functions that take the most time (self time) and the call tree:
``bench/results/<date>-<commit>-profile.json`` and ``...-profile-<scenario>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pyinstrument import Profiler
from pyinstrument.frame import Frame

from harness import ROOT, commit, save
from orderly.core.config import Settings
from orderly.core.security import TokenCodec
from orderly.main import create_app
from seed import Seeded, drop_database, prepare

SECRET = "bench-secret-key-of-sufficient-length-0123456789"
CONCURRENCY = 8

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def scenarios(seeded: Seeded, tokens: dict[uuid.UUID, str]) -> dict[str, Request]:
    run = uuid.uuid4().hex

    async def items(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/api/v1/items?limit=20")

    async def item(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.get(f"/api/v1/items/{seeded.item_ids[n % len(seeded.item_ids)]}")

    async def order(client: httpx.AsyncClient, n: int) -> httpx.Response:
        user = seeded.user_ids[n % len(seeded.user_ids)]
        body = {
            "lines": [{"item_id": str(seeded.item_ids[n % len(seeded.item_ids)]), "quantity": 1}]
        }
        headers = {"Authorization": f"Bearer {tokens[user]}", "Idempotency-Key": f"{run}-{n}"}
        return await client.post("/api/v1/orders", json=body, headers=headers)

    async def orders(client: httpx.AsyncClient, _: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[seeded.heavy_user]}"}
        return await client.get("/api/v1/orders", headers=headers)

    return {"s1-items": items, "s2-item": item, "s3-order": order, "s4-orders": orders}


async def drive(client: httpx.AsyncClient, request: Request, count: int, start: int) -> float:
    """Send ``count`` requests, CONCURRENCY at a time; this process's CPU time per request (ms:
    the API's work plus the in-process client's, without the database's)."""
    counter = iter(range(start, start + count))

    async def lane() -> None:
        for n in counter:
            response = await request(client, n)
            if response.status_code >= 400:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

    began = time.process_time()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return (time.process_time() - began) * 1000 / count


def top_functions(root: Frame | None, limit: int = 25) -> list[dict[str, Any]]:
    """Self time per function across the whole tree, largest first."""
    totals: dict[str, float] = {}

    def walk(frame: Frame) -> None:
        if frame.file_path is not None:
            where = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
            totals[where] = totals.get(where, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    if root is not None:
        walk(root)
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [{"function": f, "share": round(t / whole, 4)} for f, t in ranked]


async def profile(seeded: Seeded, requests: int) -> dict[str, Any]:
    codec = TokenCodec(
        secret_key=SECRET,
        algorithm="HS256",
        access_ttl=timedelta(hours=2),
        refresh_ttl=timedelta(hours=2),
    )
    tokens = {u: codec.issue_pair(u, 0).access_token for u in seeded.user_ids}
    os.environ.update(
        ORDERLY_DATABASE_URL=seeded.url,
        ORDERLY_SECRET_KEY=SECRET,
        ORDERLY_LOG_JSON="true",
        ORDERLY_RATE_LIMIT_ENABLED="false",
        ORDERLY_EMBEDDED_JOBS="false",
    )
    return await _profile_app(create_app(Settings()), seeded, tokens, requests)


async def _profile_app(
    app: Any, seeded: Seeded, tokens: dict[uuid.UUID, str], requests: int
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    stamp = f"{time.strftime('%Y-%m-%d')}-{commit()}"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://orderly") as client:
            for name, request in scenarios(seeded, tokens).items():
                await drive(client, request, 100, 0)  # warm caches, pools, statements
                plain = await drive(client, request, requests, 1_000)
                profiler = Profiler(interval=0.0005, async_mode="disabled")
                profiler.start()
                profiled = await drive(client, request, requests, 10_000)
                session = profiler.stop()
                tree = profiler.output_text(
                    unicode=False, color=False, show_all=os.environ.get("BENCH_PROFILE_ALL") == "1"
                )
                text = ROOT / "bench" / "results" / f"{stamp}-profile-{name}.txt"
                text.write_text(tree)
                top = top_functions(session.root_frame())
                summary[name] = {
                    "cpu_ms_per_request": round(plain, 3),
                    "cpu_ms_per_request_profiled": round(profiled, 3),
                    "top_self_time": top,
                    "call_tree": text.name,
                }
                print(f"\n{name}: {plain:.2f} CPU ms/request ({profiled:.2f} profiled)")
                for row in top[:12]:
                    print(f"  {row['share'] * 100:5.1f}%  {row['function']}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "ORDERLY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    seeded = prepare(args.postgres)
    log = Path(os.environ.get("BENCH_PROFILE_LOG", os.devnull))
    saved_stderr = os.dup(2)
    try:
        with log.open("w") as sink:
            os.dup2(sink.fileno(), 2)  # the access log goes to a file as in production
            try:
                summary = asyncio.run(profile(seeded, args.requests))
            finally:
                os.dup2(saved_stderr, 2)
    finally:
        asyncio.run(drop_database(args.postgres, seeded.url))
    save("profile", {"concurrency": CONCURRENCY, "requests": args.requests, **summary})


if __name__ == "__main__":
    main()
