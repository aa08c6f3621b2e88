"""orderly's benchmark: each scenario beside its baseline, measured in one run.

    make bench            (or: .venv/bin/python bench/run.py [--seconds 8])

Real stack on 127.0.0.1 only: orderly under uvicorn (uvloop, httptools, one worker, JSON
access log to a file as in production) on a PostgreSQL database of its own (1,000 items,
100 users, 10,000 orders; dropped afterwards); wrk (32 connections) as the load generator.
Bounded: about three minutes with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path

import httpx

import catalog
from harness import HEADER, ROOT, Result, run_wrk, save, uvicorn_server
from pipeline import forget, noop_throughput, pipeline_throughput, redis_available
from seed import (
    POSTGRES,
    Seeded,
    access_tokens,
    drop_database,
    lua_array,
    prepare,
    server_env,
)

REPORT = (ROOT / "bench" / "wrk" / "report.lua").read_text()
GRAPHQL_CATALOG = (
    "{ items(first: 20) { edges { node { id sku name description price { amount currency }"
    " stock isActive createdAt updatedAt } } } }"
)


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(body + "\n" + REPORT)
    return path


def scenario_scripts(folder: Path, seeded: Seeded, tokens: dict[uuid.UUID, str]) -> dict[str, Path]:
    ids = lua_array([str(i) for i in seeded.item_ids])
    bearer = lua_array([tokens[u] for u in seeded.user_ids])
    return {
        "item": script(
            folder,
            "item",
            f"""local ids = {ids}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/items/" .. ids[(n % #ids) + 1])
end""",
        ),
        "order": script(
            folder,
            "order",
            f"""local ids = {ids}
local tokens = {bearer}
local run = os.getenv("BENCH_RUN")  -- fresh for every wrk run: keys never repeat
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
local n = 0
request = function()
  n = n + 1
  local body = '{{"lines":[{{"item_id":"' .. ids[(n % #ids) + 1] .. '","quantity":1}}]}}'
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]
  headers["Idempotency-Key"] = run .. "-" .. tid .. "-" .. n
  return wrk.format("POST", "/api/v1/orders", headers, body)
end""",
        ),
        "orders": script(
            folder,
            "orders",
            f"""wrk.headers["Authorization"] = "Bearer {tokens[seeded.heavy_user]}"
request = function() return wrk.format("GET", "/api/v1/orders") end""",
        ),
        "plain": script(folder, "plain", ""),
        # Scenario 1's page through GraphQL: the same 20 items and fields.
        "graphql": script(
            folder,
            "graphql",
            f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{json.dumps({"query": GRAPHQL_CATALOG})}'""",
        ),
    }


PGBENCH_SCRIPT = """\\set n random(0, 999)
\\set u random(1, 99)
BEGIN;
SELECT id, is_active, token_version, role FROM users WHERE email = 'bench' || :u || '@example.com';
SELECT id FROM orders WHERE user_id = (SELECT id FROM users WHERE email = 'bench' || :u || '@example.com') AND idempotency_key = md5(random()::text);
SELECT id, price_minor, currency, is_active FROM items WHERE sku = 'BENCH-' || lpad(:n::text, 5, '0');
UPDATE items SET stock = stock - 1 WHERE sku = 'BENCH-' || lpad(:n::text, 5, '0') AND is_active AND stock >= 1;
WITH o AS (INSERT INTO orders (id, user_id, status, total_minor, currency, idempotency_key, request_fingerprint, created_at, updated_at, timeline_position) SELECT gen_random_uuid(), id, 'pending_payment', 100, 'EUR', md5(random()::text), md5(random()::text), now(), now(), 1 FROM users WHERE email = 'bench' || :u || '@example.com' RETURNING id, user_id), l AS (INSERT INTO order_lines (id, order_id, position, item_id, quantity, unit_price_minor) SELECT gen_random_uuid(), o.id, 0, (SELECT id FROM items WHERE sku = 'BENCH-' || lpad(:n::text, 5, '0')), 1, 100 FROM o), v AS (INSERT INTO order_views (order_id, user_id, status, total_minor, currency, lines, last_step_type, last_step_sequence, last_step_at, created_at, updated_at) SELECT o.id, o.user_id, 'pending_payment', 100, 'EUR', jsonb_build_array(jsonb_build_object('item_id', i.id, 'name', i.name, 'quantity', 1, 'unit_price_minor', 100)), 'order.placed', 1, now(), now(), now() FROM o, items i WHERE i.sku = 'BENCH-' || lpad(:n::text, 5, '0')) INSERT INTO order_timeline (id, order_id, sequence, type, from_status, to_status, actor_kind, actor_id, reason, data, occurred_at) SELECT gen_random_uuid(), o.id, 1, 'order.placed', NULL, 'pending_payment', 'customer', o.user_id, NULL, '{}', now() FROM o;
INSERT INTO outbox (id, event_type, payload, created_at, available_at, attempts) VALUES (gen_random_uuid(), 'OrderPlaced', '{}', now(), now(), 0);
COMMIT;
"""


def run_pgbench(folder: Path, seeded: Seeded, seconds: int) -> Result:
    path = folder / "order.sql"
    path.write_text(PGBENCH_SCRIPT)
    out = subprocess.run(
        ["pgbench", "-n", "-c", "32", "-j", "2", "-T", str(seconds), "-f", str(path), seeded.dsn],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return Result(
        "pgbench: the same transaction in SQL",
        tps,
        latency,
        float("nan"),
        float("nan"),
        int(failed.group(1)) if failed else 0,
        0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=POSTGRES,
    )
    parser.add_argument(
        "--redis", default=os.environ.get("ORDERLY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--only",
        default="1,2,3,4,5",
        help="scenarios to run with their baselines, e.g. 1,3 (a partial run is not saved)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    full_run = only == {"1", "2", "3", "4", "5"}
    folder = Path(tempfile.mkdtemp(prefix="orderly-bench-"))
    print(f"seeding a PostgreSQL database (logs and scripts in {folder})", flush=True)
    seeded = prepare(args.postgres)
    tokens = access_tokens(seeded)
    scripts = scenario_scripts(folder, seeded, tokens)
    env = server_env(seeded)
    results: dict[str, Result] = {}
    extras: dict[str, float] = {}

    def measure(name: str, base: str, path: str, key: str, lua: Path | None = None) -> None:
        run_wrk(
            "warm-up",
            base + path,
            seconds=args.warmup,
            script=lua,
            env={"BENCH_RUN": uuid.uuid4().hex},
        )
        results[key] = run_wrk(
            name,
            base + path,
            seconds=args.seconds,
            script=lua,
            env={"BENCH_RUN": uuid.uuid4().hex},
        )
        print(results[key].row(), flush=True)

    print(HEADER)
    try:
        # Scenarios 1-4 as before the catalog cache; the cache's own run below (catalog.py).
        cache_off = {**env, "ORDERLY_CATALOG_CACHE_ENABLED": "false"}
        server = uvicorn_server("apps:full", env=cache_off, log=folder / "orderly.log")
        try:
            extras["ready_seconds"] = server.wait_ready()
            body = httpx.get(server.base + "/api/v1/items?limit=20", timeout=10).content
            (folder / "items.json").write_bytes(body)
            if "1" in only:
                path = "/api/v1/items?limit=20"
                measure("1 GET /api/v1/items?limit=20", server.base, path, "s1")
                measure(
                    "1g POST /graphql, page of 1",
                    server.base,
                    "/graphql",
                    "s1g",
                    scripts["graphql"],
                )
            if "2" in only:
                measure("2 GET /api/v1/items/{id}", server.base, "", "s2", scripts["item"])
            if "3" in only:
                measure("3 POST /api/v1/orders", server.base, "", "s3", scripts["order"])
            if "4" in only:
                measure(
                    "4 GET /api/v1/orders (100 orders)", server.base, "", "s4", scripts["orders"]
                )
            extras["rss_mb_after"] = server.rss_mb()
        finally:
            server.stop()
        if "1" in only:
            cached, cache_extras = catalog.run_cached(
                folder,
                env,
                scripts["order"],
                seconds=args.seconds,
                warmup=args.warmup,
                report=lambda result: print(result.row(), flush=True),
            )
            results.update(cached)
            extras.update(cache_extras)
        raw = uvicorn_server(
            "baselines:raw",
            env={**env, "BENCH_RAW_BODY": str(folder / "items.json")},
            log=folder / "raw.log",
        )
        try:
            raw.wait_ready("/")
            if only & {"1", "2"}:
                measure("raw ASGI, same bytes as 1", raw.base, "/api/v1/items?limit=20", "raw")
        finally:
            raw.stop()
        hand = uvicorn_server("baselines:handwritten", env=env, log=folder / "hand.log")
        try:
            hand.wait_ready()
            if "1" in only:
                measure("FastAPI+asyncpg, SQL of 1", hand.base, "/api/v1/items?limit=20", "hand1")
            if "3" in only:
                measure("FastAPI+asyncpg, SQL of 3", hand.base, "", "hand3", scripts["order"])
            if "4" in only:
                measure("FastAPI+asyncpg, SQL of 4", hand.base, "", "hand4", scripts["orders"])
        finally:
            hand.stop()
        if "3" in only:
            results["pg3"] = run_pgbench(folder, seeded, args.seconds)
            print(results["pg3"].row(), flush=True)
        if "5" in only and redis_available(args.redis):
            jobs_env = {
                **env,
                "ORDERLY_BROKER_URL": args.redis,
                "ORDERLY_REDIS_KEY_PREFIX": f"orderly-bench-{uuid.uuid4().hex[:8]}",
                "ORDERLY_MAIL_DIR": str(folder / "mail"),
            }
            rate, cpu = pipeline_throughput(
                folder, jobs_env, seeded.dsn, tokens[seeded.user_ids[1]], seeded.item_ids
            )
            extras["pipeline_orders_per_s"], extras["pipeline_cpu_ms_per_order"] = rate, cpu
            try:
                extras["noop_tasks_per_s"] = noop_throughput(folder, jobs_env, args.redis)
            finally:
                forget(args.redis, jobs_env["ORDERLY_REDIS_KEY_PREFIX"])
            print(
                f"5 order pipeline: {extras['pipeline_orders_per_s']:.1f} orders/s end to end; "
                f"no-op Celery task: {extras['noop_tasks_per_s']:.0f} tasks/s\n"
                "  CPU ms per order: " + ", ".join(f"{k} {v}" for k, v in cpu.items()),
                flush=True,
            )
    finally:
        asyncio.run(drop_database(args.postgres, seeded.url))

    pairs = [
        *catalog.PAIRS,
        ("1 GET /api/v1/items?limit=20", "s1", "raw", "raw ASGI (server ceiling)"),
        ("1g POST /graphql, page of 1", "s1g", "s1", "REST scenario 1"),
        ("2 GET /api/v1/items/{id}", "s2", "raw", "raw ASGI (server ceiling)"),
        ("3 POST /api/v1/orders", "s3", "hand3", "FastAPI+asyncpg"),
        ("3 POST /api/v1/orders", "s3", "pg3", "pgbench (database limit)"),
        ("4 GET /api/v1/orders", "s4", "hand4", "FastAPI+asyncpg"),
    ]
    print("\nscenario                              baseline                       ratio")
    table = []
    for label, ours, theirs, baseline in pairs:
        if ours not in results or theirs not in results:
            continue
        ratio = results[ours].rps / results[theirs].rps
        print(f"{label:<37} {baseline:<30} {ratio:5.2f}")
        table.append(
            {
                "scenario": label,
                "rps": round(results[ours].rps, 1),
                "p99_ms": round(results[ours].p99_ms, 1),
                "baseline": baseline,
                "baseline_rps": round(results[theirs].rps, 1),
                "ratio": round(ratio, 3),
            }
        )
    if "1" in only:
        catalog.compare_peer(results, extras)
    if "pipeline_orders_per_s" in extras:
        ratio = extras["pipeline_orders_per_s"] / extras["noop_tasks_per_s"]
        print(
            f"{'5 order pipeline (orders/s)':<37} {'no-op Celery task (tasks/s)':<30} {ratio:5.2f}"
        )
        table.append(
            {
                "scenario": "5 order pipeline: placed -> paid (orders/s)",
                "rps": round(extras["pipeline_orders_per_s"], 1),
                "p99_ms": None,
                "baseline": "no-op Celery task (tasks/s)",
                "baseline_rps": round(extras["noop_tasks_per_s"], 1),
                "ratio": round(ratio, 3),
            }
        )
    elif "5" in only:
        print("5 order pipeline: skipped, Redis is not reachable at --redis")
    print(
        f"\nready after {extras['ready_seconds']:.2f} s; API worker RSS after the run "
        f"{extras['rss_mb_after']:.0f} MB"
    )
    if not full_run:
        print("partial run (--only): results not saved")
        return
    saved = save(
        "scenarios",
        {
            "connections": 32,
            "seconds": args.seconds,
            "table": table,
            "runs": {k: asdict(v) for k, v in results.items()},
            **extras,
        },
    )
    print("\nREADME table:\n")
    print(markdown_table(table, saved.name))


def markdown_table(table: list[dict[str, object]], source: str) -> str:
    """The README's benchmark table for one run."""
    lines = [
        f"Results file: `bench/results/{source}`",
        "",
        "| scenario | req/s | p99 ms | baseline | baseline req/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for row in table:
        p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.0f}"
        lines.append(
            f"| {row['scenario']} | {row['rps']} | {p99} | {row['baseline']} "
            f"| {row['baseline_rps']:.0f} | {row['ratio']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
