"""``orderly flower`` on the Redis broker under orderly's key prefix: its API lists a running
``orderly worker`` and orderly's queues (Flower started with other settings would see none)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import ORDERLY, Process, clean_env, eventually, free_port

pytest.importorskip("flower", reason="the extra orderly[flower] is not installed")

AUTH = ("ops", "flower-test-password")


def get_json(url: str) -> Any:
    """The answer's JSON, or None while Flower is not listening or has nothing yet."""
    try:
        return httpx.get(url, auth=AUTH, timeout=10).raise_for_status().json() or None
    except httpx.HTTPError:
        return None


def test_flower_lists_the_worker_and_orderly_s_queues(
    tmp_path: Path, redis_broker: dict[str, str]
) -> None:
    env = clean_env(
        ORDERLY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/flower.db",
        FLOWER_BASIC_AUTH=":".join(AUTH),
        **redis_broker,
    )
    node = f"flowertest{uuid.uuid4().hex[:6]}@%h"
    port = free_port()
    worker = Process(
        [str(ORDERLY), "worker", "--concurrency", "1", "--hostname", node],
        workdir=tmp_path,
        env=env,
    )
    flower = Process(
        [str(ORDERLY), "flower", "--port", str(port)],
        workdir=tmp_path,
        env=env,
        port=port,
        ready_path="/healthcheck",
    )
    try:
        flower.wait_ready()
        base = f"http://127.0.0.1:{port}"
        prefix = node.partition("@")[0]

        def our_worker() -> dict[str, Any] | None:
            workers = get_json(f"{base}/api/workers?refresh=1") or {}
            return next((w for name, w in workers.items() if name.startswith(prefix)), None)

        seen = eventually(our_worker, "Flower's API to list the worker", wait=60)
        consumed = {queue["name"] for queue in seen["active_queues"]}
        assert consumed == {"default", "payments", "emails", "reports", "webhooks"}
        # Queue lengths are read from Redis under orderly's key prefix.
        lengths = get_json(f"{base}/api/queues/length")
        assert {q["name"] for q in lengths["active_queues"]} == consumed
        assert httpx.get(f"{base}/api/workers", timeout=10).status_code == 401  # no password
    finally:
        flower.stop()
        worker.stop()
