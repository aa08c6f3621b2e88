"""Live status on a real `orderly serve` as `make run` starts it (SQLite, in-process jobs, no
servers): an order placed with pm_card_visa shows its snapshot and then the `paid` change on
its stream; SIGTERM while an SSE and a WebSocket client are connected ends both at once (the
retry hint and `closing: shutting-down`; close code 4503) and the process exits well within
ORDERLY_SHUTDOWN_TIMEOUT instead of waiting for the streams."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orderly.api import live_ws
from tests.live_client import SseReader, step, ws_connect
from tests.processes import ORDERLY, Process, clean_env, free_port

SHUTDOWN_TIMEOUT = 15


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Process]:
    port = free_port()
    env = clean_env(
        ORDERLY_PORT=str(port),
        ORDERLY_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
        ORDERLY_LIVE_HEARTBEAT="1",
    )
    process = Process(
        [str(ORDERLY), "serve"], workdir=tmp_path, env=env, port=port, ready_path="/health/ready"
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def customer_token(http: httpx.AsyncClient) -> str:
    creds = {"email": "watcher@example.com", "password": "a-good-passphrase"}
    registered = await http.post("/api/v1/auth/register", json={**creds, "full_name": "Watcher"})
    registered.raise_for_status()
    answer = await http.post(
        "/api/v1/auth/token", data={"username": creds["email"], "password": creds["password"]}
    )
    token: str = answer.json()["access_token"]
    return token


async def test_embedded_paid_event_then_sigterm_closes_streams_promptly(server: Process) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        token = await customer_token(http)
        headers = {"Authorization": f"Bearer {token}"}
        item = (await http.get("/api/v1/items", params={"limit": 1})).json()["items"][0]
        body = {"lines": [{"item_id": item["id"], "quantity": 1}], "payment_method": "pm_card_visa"}
        placed = await http.post("/api/v1/orders", json=body, headers=headers)
        assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    # Last-Event-ID 1 (the placed entry): the paid change comes once, whether the in-process
    # runner has charged the card before the stream opens or after.
    stream_headers = {**headers, "Last-Event-ID": "1"}
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=10) as client,
        client.stream("GET", f"/api/v1/orders/{order_id}/events", headers=stream_headers) as sse,
        ws_connect(server.base, token) as socket,
    ):
        events = SseReader(sse)
        snapshot = await events.next_named()
        assert snapshot.event == "snapshot"
        paid = await events.next_named(wait=20)
        assert (paid.event, paid.id) == ("change", "2")
        assert step(paid.json()) == (2, "order.paid", "pending_payment", "paid")
        assert paid.json()["actor_kind"] == "worker"
        await socket.send(type="subscribe", topic=f"order:{order_id}")
        assert (await socket.next())["data"]["status"] == "paid"

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        closing = await events.next_named(wait=5)
        assert (closing.event, closing.json()) == ("closing", {"reason": "shutting-down"})
        assert await socket.closed(wait=5) == (live_ws.SHUTTING_DOWN, "shutting-down")
    exit_code = await asyncio.to_thread(server.process.wait, SHUTDOWN_TIMEOUT)
    took = time.monotonic() - started
    # uvicorn raises the signal it caught again once it has shut down: -SIGTERM is a clean exit
    assert exit_code in {0, -signal.SIGTERM}, server.log.read_text()
    assert took < SHUTDOWN_TIMEOUT / 3, f"exited after {took:.1f}s"
    log = server.log.read_text()
    assert "timeout graceful shutdown exceeded" not in log
