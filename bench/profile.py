"""Profile orderly's hot paths in-process with pyinstrument; part of ``make bench``.

    .venv/bin/python bench/profile.py [--requests 400]

Seeds the same PostgreSQL database as bench/run.py, builds the application with the
benchmark's settings and calls it as an ASGI server would with scenarios 1-4 and 1g (middleware,
routing, services, SQLAlchemy, asyncpg), 8 requests at a time. For each scenario it prints
and saves the CPU time per request without the profiler (best of 8 rounds of 200), the
functions that take the most time (self time) and the call tree; then the same CPU figure
for the hand-written FastAPI + asyncpg baseline (bench/baselines.py) on scenarios 1, 3 and
4, a steadier ratio than wrk's on a shared 2-core machine:
``bench/results/<date>-<commit>-profile.json`` and ``...-profile-<scenario>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from starlette.types import ASGIApp, Message, Scope

import baselines
from harness import ROOT, commit, save
from orderly.core.config import Settings
from orderly.main import create_app
from run import GRAPHQL_CATALOG
from seed import POSTGRES, Seeded, access_tokens, drop_database, prepare, server_env

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
ROUNDS = 8

# One request as (method, path, headers, body); the driver calls the ASGI app directly, so
# the CPU time measured is the application's (no HTTP client or server in the process).
Call = tuple[str, str, list[tuple[bytes, bytes]], bytes]
Request = Callable[[int], Call]


def scenarios(seeded: Seeded, tokens: dict[uuid.UUID, str]) -> dict[str, Request]:
    run = uuid.uuid4().hex

    def bearer(user: uuid.UUID) -> tuple[bytes, bytes]:
        return (b"authorization", f"Bearer {tokens[user]}".encode())

    def items(_: int) -> Call:
        return "GET", "/api/v1/items?limit=20", [], b""

    def item(n: int) -> Call:
        return "GET", f"/api/v1/items/{seeded.item_ids[n % len(seeded.item_ids)]}", [], b""

    def order(n: int) -> Call:
        user = seeded.user_ids[n % len(seeded.user_ids)]
        line = {"item_id": str(seeded.item_ids[n % len(seeded.item_ids)]), "quantity": 1}
        body = json.dumps({"lines": [line]}).encode()
        headers = [
            bearer(user),
            (b"idempotency-key", f"{run}-{n}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        return "POST", "/api/v1/orders", headers, body

    def orders(_: int) -> Call:
        return "GET", "/api/v1/orders", [bearer(seeded.heavy_user)], b""

    graphql_body = json.dumps({"query": GRAPHQL_CATALOG}).encode()

    def graphql_items(_: int) -> Call:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(graphql_body)).encode()),
        ]
        return "POST", "/graphql", headers, graphql_body

    return {
        "s1-items": items,
        "s1g-graphql": graphql_items,
        "s2-item": item,
        "s3-order": order,
        "s4-orders": orders,
    }


async def call(app: ASGIApp, request: Call) -> tuple[int, bytes]:
    """One HTTP request through ``app`` as a server would send it; (status, body)."""
    method, target, headers, body = request
    path, _, query = target.partition("?")
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"orderly"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def drive(app: ASGIApp, request: Request, count: int, start: int) -> float:
    """Send ``count`` requests, CONCURRENCY at a time; this process's CPU time per request in
    ms (the application's work, the database's excluded)."""
    counter = iter(range(start, start + count))

    async def lane() -> None:
        for n in counter:
            status, answer = await call(app, request(n))
            if status >= 400:
                raise RuntimeError(f"{status}: {answer[:200]!r}")

    began = time.process_time()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return (time.process_time() - began) * 1000 / count


def self_time(root: Frame | None) -> tuple[dict[str, float], dict[str, float]]:
    """Self time per function and per package (top-level module) across the whole tree."""
    functions: dict[str, float] = {}
    packages: dict[str, float] = {}

    def walk(frame: Frame) -> None:
        if frame.file_path is not None:
            where = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
            functions[where] = functions.get(where, 0.0) + frame.total_self_time
            short = frame.file_path_short or "?"
            package = short.split("/")[0] if "/" in short else short.split(".")[0]
            packages[package] = packages.get(package, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    if root is not None:
        walk(root)
    return functions, packages


def ranked(totals: dict[str, float], limit: int) -> list[dict[str, Any]]:
    whole = sum(totals.values()) or 1.0
    best = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [{"name": name, "share": round(t / whole, 4)} for name, t in best]


async def profile(seeded: Seeded, requests: int, only: str = "") -> dict[str, Any]:
    tokens = access_tokens(seeded)
    os.environ.update(server_env(seeded))
    summary = await _profile_app(create_app(Settings()), seeded, tokens, requests, only)
    summary["handwritten"] = await _baseline_cpu(baselines.handwritten(), seeded, tokens, only)
    print("\nCPU per request, orderly vs the hand-written FastAPI + asyncpg endpoint:")
    for name, theirs in summary["handwritten"].items():
        ours = summary[name]["cpu_ms_per_request"]
        print(f"  {name}: {ours:.2f} ms vs {theirs:.2f} ms, ratio {theirs / ours:.2f}")
    return summary


async def _baseline_cpu(
    app: Any, seeded: Seeded, tokens: dict[uuid.UUID, str], only: str
) -> dict[str, float]:
    """The hand-written baseline's CPU per request for the scenarios it implements."""
    cpu: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        for name, request in scenarios(seeded, tokens).items():
            if name in ("s1g-graphql", "s2-item") or (only and name not in only.split(",")):
                continue
            await drive(app, request, 100, 50_000)
            rounds = [await drive(app, request, 200, 60_000 + 200 * r) for r in range(ROUNDS)]
            cpu[name] = round(min(rounds), 3)
    return cpu


async def _profile_app(
    app: Any, seeded: Seeded, tokens: dict[uuid.UUID, str], requests: int, only: str
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    stamp = f"{time.strftime('%Y-%m-%d')}-{commit()}"
    async with app.router.lifespan_context(app):
        for name, request in scenarios(seeded, tokens).items():
            if only and name not in only.split(","):
                continue
            await drive(app, request, 100, 0)  # warm caches, pools, statements
            # The best of several rounds: on a shared VM a round is only ever slowed down.
            rounds = [await drive(app, request, 200, 1_000 + 200 * r) for r in range(ROUNDS)]
            plain = min(rounds)
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            profiled = await drive(app, request, requests, 10_000)
            session = profiler.stop()
            tree = profiler.output_text(
                unicode=False, color=False, show_all=os.environ.get("BENCH_PROFILE_ALL") == "1"
            )
            # A partial run (--only) is not a result: its call trees go to the temp folder.
            folder = Path(tempfile.gettempdir()) if only else ROOT / "bench" / "results"
            text = folder / f"{stamp}-profile-{name}.txt"
            text.write_text(tree)
            functions, packages = self_time(session.root_frame())
            top = ranked(functions, 25)
            summary[name] = {
                "cpu_ms_per_request": round(plain, 3),
                "cpu_ms_per_request_profiled": round(profiled, 3),
                "self_time_by_package": ranked(packages, 15),
                "top_self_time": top,
                "call_tree": text.name,
            }
            print(f"\n{name}: {plain:.2f} CPU ms/request ({profiled:.2f} profiled), tree: {text}")
            print(
                "  by package: "
                + ", ".join(
                    f"{row['name']} {row['share'] * 100:.0f}%" for row in ranked(packages, 10)
                )
            )
            for row in top[:12]:
                print(f"  {row['share'] * 100:5.1f}%  {row['name']}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--only", default="", help="scenario names to run, e.g. s1-items,s3-order")
    parser.add_argument(
        "--postgres",
        default=POSTGRES,
    )
    args = parser.parse_args()
    seeded = prepare(args.postgres)
    log = Path(os.environ.get("BENCH_PROFILE_LOG", os.devnull))
    saved_stderr = os.dup(2)
    try:
        with log.open("w") as sink:
            os.dup2(sink.fileno(), 2)  # the access log goes to a file as in production
            try:
                summary = asyncio.run(profile(seeded, args.requests, args.only))
            finally:
                os.dup2(saved_stderr, 2)
    finally:
        asyncio.run(drop_database(args.postgres, seeded.url))
    if args.only:
        print("partial run (--only): results not saved")
        return
    save("profile", {"concurrency": CONCURRENCY, "requests": args.requests, **summary})


if __name__ == "__main__":
    main()
