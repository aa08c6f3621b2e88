"""Scenario 5: orders placed through the API until they are paid by the outbox relay and a
Celery worker, end to end, beside a no-op Celery task's throughput on the same broker."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import redis

from harness import BIN, ROOT, Server, free_port, uvicorn_server

ORDERS = 300
NOOP_TASKS = 2_000
DEADLINE = 180.0
# Worker processes for both the pipeline and the no-op baseline (the same configuration).
WORKER_PROCESSES = int(os.environ.get("BENCH_WORKER_PROCESSES", "2"))


def redis_available(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def forget(url: str, prefix: str) -> None:
    """Remove every Redis key the run wrote under its prefix."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise SystemExit(f"scenario 5: not within {DEADLINE}s: {what}")


def _process(args: list[str], env: dict[str, str], log: Path) -> Server:
    return Server(args, env=env, port=0, log=log)


def noop_throughput(folder: Path, env: dict[str, str], redis_url: str) -> float:
    """Tasks per second a worker runs for tasks that do nothing (send to last run)."""
    key = f"{env['ORDERLY_REDIS_KEY_PREFIX']}:noop-count"
    env = {**env, "BENCH_REDIS_URL": redis_url, "BENCH_COUNTER_KEY": key}
    worker = _process(
        [
            str(BIN / "celery"),
            "--workdir",
            str(ROOT / "bench"),
            "-A",
            "noop",
            "worker",
            "-Q",
            "default",
            "-c",
            str(WORKER_PROCESSES),
            "--loglevel",
            "WARNING",
        ],
        env,
        folder / "noop-worker.log",
    )
    client = redis.Redis.from_url(redis_url)
    try:
        import sys

        sys.path.insert(0, str(ROOT / "bench"))
        os.environ.update(env)
        import noop

        noop.app.send_task("bench.noop", queue="default")  # warm the worker
        _wait(lambda: client.get(key) == b"1", "the warm-up task")
        client.set(key, 0)
        started = time.monotonic()
        for _ in range(NOOP_TASKS):
            noop.app.send_task("bench.noop", queue="default")
        _wait(lambda: int(client.get(key) or 0) >= NOOP_TASKS, "the no-op tasks")
        return NOOP_TASKS / (time.monotonic() - started)
    finally:
        worker.stop()
        client.delete(key)


async def _place(base: str, token: str, item_ids: list[uuid.UUID]) -> list[str]:
    limits = httpx.Limits(max_connections=32)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60, headers=headers) as http:

        async def one(n: int) -> str:
            body = {
                "lines": [{"item_id": str(item_ids[n % len(item_ids)]), "quantity": 1}],
                "payment_method": "pm_card_visa",
            }
            response = await http.post("/api/v1/orders", json=body)
            response.raise_for_status()
            order_id: str = response.json()["id"]
            return order_id

        return list(await asyncio.gather(*(one(n) for n in range(ORDERS))))


async def _clear_backlog(dsn: str) -> None:
    """Earlier scenarios (and the baselines' raw inserts) left events behind; they are not
    part of this measurement."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE outbox SET published_at = now() WHERE published_at IS NULL"
        )
    finally:
        await connection.close()


async def _paid(dsn: str, ids: list[str]) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM orders WHERE status = 'paid' AND id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in ids],
        )
        return count
    finally:
        await connection.close()


def pipeline_throughput(
    folder: Path, env: dict[str, str], dsn: str, token: str, item_ids: list[uuid.UUID]
) -> float:
    """Orders per second from the first POST to the last one paid."""
    asyncio.run(_clear_backlog(dsn))
    # The payment provider is a service of its own, as in production (the in-process
    # sandbox would run the provider's side of every charge inside the worker).
    port = free_port()
    provider = Server(
        [str(BIN / "orderly"), "fake-provider", "--port", str(port)],
        env=env,
        port=port,
        log=folder / "provider.log",
    )
    provider.wait_ready("/_health")
    env = {**env, "ORDERLY_PAYMENT_PROVIDER_URL": provider.base}
    api = uvicorn_server("apps:full", env=env, log=folder / "pipeline-api.log")
    relay = _process([str(BIN / "orderly"), "relay"], env, folder / "relay.log")
    worker = _process(
        [str(BIN / "orderly"), "worker", "--concurrency", str(WORKER_PROCESSES)],
        env,
        folder / "worker.log",
    )
    try:
        api.wait_ready()
        started = time.monotonic()
        ids = asyncio.run(_place(api.base, token, item_ids))
        _wait(lambda: asyncio.run(_paid(dsn, ids)) >= ORDERS, "every order to be paid")
        return ORDERS / (time.monotonic() - started)
    finally:
        for process in (worker, relay, api, provider):
            process.stop()
