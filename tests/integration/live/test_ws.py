"""Live order status over the WebSocket, on SQLite and PostgreSQL: authentication by the first
message, the documented close codes, snapshot then changes per topic, resume, pings, the
connection limits shared with SSE, shutdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orderly.api import live_ws
from orderly.container import Container
from orderly.models import Item
from tests.conftest import Account
from tests.integration.test_auth import _claims, _forge
from tests.integration.test_orders import ORDERS, lines, place
from tests.live_client import SseReader, step, ws_connect

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def expired_token(account: Account) -> str:
    now = datetime.now(UTC)
    return _forge(_claims(account, iat=now - timedelta(hours=1), exp=now - timedelta(minutes=1)))


async def test_the_first_message_must_authenticate_in_time(
    base_url: str, live: Container, carol: Account
) -> None:
    async with ws_connect(base_url) as socket:  # says nothing: closed after the auth timeout
        assert (await socket.closed(wait=3))[0] == live_ws.BAD_TOKEN
    async with ws_connect(base_url) as socket:
        await socket.send(type="auth", token="not-a-token")
        assert (await socket.closed())[0] == live_ws.BAD_TOKEN
    async with ws_connect(base_url) as socket:
        await socket.send(type="subscribe", topic="orders")
        code, reason = await socket.closed()
        assert (code, "auth" in reason) == (live_ws.BAD_TOKEN, True)
    async with ws_connect(base_url) as socket:
        await socket.socket.send("{not json")
        assert (await socket.closed())[0] == live_ws.INVALID_MESSAGE
    async with ws_connect(base_url) as socket:
        await socket.send(type="auth", token=expired_token(carol))
        code, reason = await socket.closed()
        assert (code, "expired" in reason) == (live_ws.BAD_TOKEN, True)
    assert len(live.live) == 0


async def test_sockets_not_signed_in_yet_count_against_the_process_limit(
    base_url: str, live: Container, carol: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live.live, "_max_connections", 2)
    async with ws_connect(base_url) as first, ws_connect(base_url) as second:
        await asyncio.sleep(0.1)  # both wait for their first message, each holding a slot
        async with ws_connect(base_url) as third:
            assert (await third.closed())[0] == live_ws.TOO_MANY
        await first.send(type="auth", token=carol.access_token)
        assert (await first.next())["type"] == "authenticated"
        assert (await second.closed(wait=3))[0] == live_ws.BAD_TOKEN  # its time ran out
    async with ws_connect(base_url, carol.access_token) as again:  # the slots are free again
        await again.send(type="ping")
        assert (await again.next())["type"] == "pong"


async def test_snapshot_then_changes_per_topic_and_pings_answered(
    base_url: str, http: httpx.AsyncClient, carol: Account, lamp: Item
) -> None:
    order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    async with ws_connect(base_url, carol.access_token) as socket:
        await socket.send(type="subscribe", topic=f"order:{order_id}")
        snapshot = await socket.next()
        assert (snapshot["type"], snapshot["topic"], snapshot["id"]) == (
            "snapshot",
            f"order:{order_id}",
            "1",
        )
        assert snapshot["data"]["status"] == "pending_payment"
        await socket.send(type="subscribe", topic="orders")
        feed = await socket.next()
        assert (feed["type"], feed["topic"], feed["data"]["total"]) == ("snapshot", "orders", 1)
        await socket.send(type="ping")
        assert await socket.next() == {"type": "pong"}
        paid = await http.post(
            f"{ORDERS}/{order_id}/pay",
            json={"payment_method": "pm_card_visa"},
            headers=carol.headers,
        )
        assert paid.status_code == 200
        changes = [await socket.next(), await socket.next()]
        assert sorted(c["topic"] for c in changes) == ["order:" + order_id, "orders"]
        for change in changes:
            assert step(change["data"]) == (2, "order.paid", "pending_payment", "paid")
        await socket.send(type="unsubscribe", topic="orders")
        assert await socket.next() == {"type": "unsubscribed", "topic": "orders"}
        fulfilled = await http.post(f"{ORDERS}/{order_id}/cancel", headers=carol.headers)
        assert fulfilled.status_code == 200, fulfilled.text
        change = await socket.next()
        assert (change["topic"], change["id"]) == (f"order:{order_id}", "3")
    # Resuming an order after position 1 sends what came after it.
    async with ws_connect(base_url, carol.access_token) as socket:
        await socket.send(type="subscribe", topic=f"order:{order_id}", last_event_id="1")
        got = [await socket.next() for _ in range(3)]
        assert [(m["type"], m["id"]) for m in got] == [
            ("snapshot", "3"),
            ("change", "2"),
            ("change", "3"),
        ]


async def test_unknown_foreign_and_forbidden_subscriptions_close_with_their_codes(
    base_url: str, http: httpx.AsyncClient, carol: Account, dave: Account, lamp: Item
) -> None:
    order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    cases = [
        ({"topic": f"order:{UNKNOWN}"}, live_ws.UNKNOWN_ORDER),
        ({"topic": f"order:{order_id}"}, live_ws.UNKNOWN_ORDER),  # carol's, asked by dave
        ({"topic": "orders", "user_id": str(carol.user.id)}, live_ws.FORBIDDEN),
        ({"topic": "order:nope"}, live_ws.INVALID_MESSAGE),
        ({"topic": "orders", "last_event_id": "x"}, live_ws.INVALID_MESSAGE),
        ({"topic": "orders", "status": "lost"}, live_ws.INVALID_MESSAGE),
    ]
    for subscription, code in cases:
        async with ws_connect(base_url, dave.access_token) as socket:
            await socket.send(type="subscribe", **subscription)
            assert (await socket.closed())[0] == code, subscription


async def test_connection_limits_are_shared_with_sse_and_shutdown_closes_everything(
    base_url: str, http: httpx.AsyncClient, live: Container, carol: Account, lamp: Item
) -> None:
    order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    url = f"{ORDERS}/{order_id}/events"
    async with (  # live_max_per_user is 2
        http.stream("GET", url, headers=carol.headers) as stream,
        ws_connect(base_url, carol.access_token) as socket,
    ):
        await socket.send(type="subscribe", topic=f"order:{order_id}")
        await socket.next()
        async with ws_connect(base_url, carol.access_token) as third:
            assert (await third.closed())[0] == live_ws.TOO_MANY
        events = SseReader(stream)
        await events.next_named()
        live.live.close_all()
        assert await socket.closed() == (live_ws.SHUTTING_DOWN, "shutting-down")
        closing = await events.next_named()
        assert (closing.event, closing.json()) == ("closing", {"reason": "shutting-down"})
    await asyncio.sleep(0.1)
    assert len(live.live) == 0
