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

        async def lane(first: int) -> list[str]:
            """One of 32 connections, placing every 32nd order: no request waits inside
            httpx's pool, whose queue costs the client CPU per waiting request."""
            placed = []
            for n in range(first, ORDERS, 32):
                body = {
                    "lines": [{"item_id": str(item_ids[n % len(item_ids)]), "quantity": 1}],
                    "payment_method": "pm_card_visa",
                }
                response = await http.post("/api/v1/orders", json=body)
                response.raise_for_status()
                placed.append(response.json()["id"])
            return placed

        return [i for ids in await asyncio.gather(*(lane(n) for n in range(32))) for i in ids]


async def _clear_backlog(dsn: str) -> None:
    """Earlier scenarios (and the baselines' raw inserts) left events behind; they are not
    part of this measurement: marked handled, so the relay neither publishes them nor, as
    unacknowledged hand-overs, publishes them again."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE outbox SET published_at = now(), handled_at = now() WHERE handled_at IS NULL"
        )
    finally:
        await connection.close()


async def _place_until_paid(base: str, dsn: str, token: str, item_ids: list[uuid.UUID]) -> None:
    """Place the orders, then watch them get paid over one connection, a look every 0.1 s
    (a connection per look cost the measured machine more than the relay did)."""
    ids = [uuid.UUID(i) for i in await _place(base, token, item_ids)]
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            paid = await connection.fetchval(
                "SELECT count(*) FROM orders WHERE status = 'paid' AND id = ANY($1::uuid[])", ids
            )
            if paid >= ORDERS:
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"scenario 5: not every order was paid within {DEADLINE}s")
    finally:
        await connection.close()


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has been busy (every core; /proc/stat, not idle/iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pipeline_throughput(
    folder: Path, env: dict[str, str], dsn: str, token: str, item_ids: list[uuid.UUID]
) -> tuple[float, dict[str, float]]:
    """Orders per second from the first POST to the last one paid, and the CPU milliseconds
    each order cost in each process (this one places the orders; the rest of the machine is
    mostly PostgreSQL and Redis)."""
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
    processes = {"api": api, "relay": relay, "worker": worker, "provider": provider}
    try:
        api.wait_ready()
        time.sleep(2)  # the worker's pool and the relay finish starting
        before = {name: p.cpu_seconds() for name, p in processes.items()}
        machine, client = machine_cpu_seconds(), time.process_time()
        started = time.monotonic()
        asyncio.run(_place_until_paid(api.base, dsn, token, item_ids))
        elapsed = time.monotonic() - started
        cpu = {name: p.cpu_seconds() - before[name] for name, p in processes.items()}
        cpu["client placing orders"] = time.process_time() - client
        cpu["PostgreSQL, Redis, rest"] = machine_cpu_seconds() - machine - sum(cpu.values())
        return ORDERS / elapsed, {k: round(v * 1000 / ORDERS, 1) for k, v in cpu.items()}
    finally:
        for process in (worker, relay, api, provider):
            process.stop()
