"""The live status fan-out: per-order ordering, bounded queues, slow clients dropped, limits."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from orderly.events.live import (
    Closed,
    Connection,
    Delivery,
    LiveChange,
    LiveHub,
    Message,
    Resync,
    TooManyStreams,
)

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def change(
    order_id: uuid.UUID, sequence: int, to_status: str = "paid", user: uuid.UUID = ALICE
) -> LiveChange:
    return LiveChange(
        order_id=order_id,
        user_id=user,
        sequence=sequence,
        type="order.paid",
        from_status="pending_payment",
        to_status=to_status,
        actor_kind="worker",
        occurred_at="2026-01-01T00:00:00+00:00",
    )


def hub(queue_size: int = 8, per_user: int = 3, total: int = 10) -> LiveHub:
    return LiveHub(queue_size=queue_size, max_per_user=per_user, max_connections=total)


def drain(queue: asyncio.Queue[Message]) -> list[Message]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def changes(queue: asyncio.Queue[Message]) -> list[LiveChange]:
    return [c.change for c in drain(queue) if isinstance(c, Delivery)]


def watching(fan_out: LiveHub, user: uuid.UUID, order_id: uuid.UUID) -> Connection:
    connection = fan_out.connect(user_id=user, transport="sse")
    connection.watch_order(order_id)
    return connection


def test_each_stream_gets_its_orders_changes_in_publish_order() -> None:
    fan_out = hub()
    one, two = uuid.uuid4(), uuid.uuid4()
    watching_one = watching(fan_out, ALICE, one)
    all_of_alice = fan_out.connect(user_id=ALICE, transport="sse")
    all_of_alice.watch_orders(owner=ALICE)
    for sequence in (1, 2, 3):
        fan_out.publish(change(one, sequence))
        fan_out.publish(change(two, sequence))
    fan_out.publish(change(uuid.uuid4(), 1, user=BOB))
    assert [c.sequence for c in changes(watching_one.queue)] == [1, 2, 3]
    seen = [(c.order_id, c.sequence) for c in changes(all_of_alice.queue)]
    assert seen == [(one, 1), (two, 1), (one, 2), (two, 2), (one, 3), (two, 3)]


def test_admin_stream_filters_by_status() -> None:
    fan_out = hub()
    paid_only = fan_out.connect(user_id=BOB, transport="sse")
    paid_only.watch_orders(owner=None, statuses=frozenset({"paid"}))
    fan_out.publish(change(uuid.uuid4(), 1, to_status="pending_payment"))
    fan_out.publish(change(uuid.uuid4(), 2, to_status="paid", user=BOB))
    assert [c.to_status for c in changes(paid_only.queue)] == ["paid"]


def test_a_slow_client_is_dropped_with_a_reason_and_the_others_go_on() -> None:
    fan_out = hub(queue_size=2)
    order = uuid.uuid4()
    slow = watching(fan_out, ALICE, order)
    fast = watching(fan_out, BOB, order)
    for sequence in (1, 2, 3, 4):
        fan_out.publish(change(order, sequence))
        if sequence % 2 == 0:
            drain_fast = drain(fast.queue)
            assert len(drain_fast) == 2
    assert slow.closed == "slow-client"
    received = drain(slow.queue)
    assert len(received) <= 2  # the queue never grew past its size
    assert received[-1] == Closed("slow-client")
    assert fast.closed is None


def test_limits_count_connections_per_user_and_per_process_and_disconnect_frees_them() -> None:
    fan_out = hub(per_user=2, total=3)
    first = fan_out.connect(user_id=ALICE, transport="sse")
    socket = fan_out.connect(user_id=ALICE, transport="ws")
    for _ in range(5):  # subscriptions of one connection take no slot
        socket.watch_order(uuid.uuid4())
    with pytest.raises(TooManyStreams, match="per user"):
        fan_out.connect(user_id=ALICE, transport="sse")
    fan_out.connect(user_id=BOB, transport="sse")
    with pytest.raises(TooManyStreams, match="too many open streams"):
        fan_out.connect(user_id=uuid.uuid4(), transport="ws")
    fan_out.disconnect(first)
    fan_out.disconnect(first)  # twice is harmless
    assert len(fan_out) == 2
    fan_out.connect(user_id=ALICE, transport="sse")


def test_a_client_still_authenticating_holds_a_slot_of_the_process() -> None:
    fan_out = hub(per_user=2, total=2)
    fan_out.connect(user_id=ALICE, transport="sse")
    with fan_out.handshake():
        with pytest.raises(TooManyStreams, match="too many open streams"), fan_out.handshake():
            pass  # a second unauthenticated socket: no slot left
        with pytest.raises(TooManyStreams, match="too many open streams"):
            fan_out.connect(user_id=BOB, transport="ws")
    fan_out.connect(user_id=BOB, transport="ws")  # the handshake ended: its slot is free
    assert len(fan_out) == 2


def test_resync_and_shutdown_reach_every_stream() -> None:
    fan_out = hub()
    streams = [fan_out.connect(user_id=ALICE, transport="sse") for _ in range(3)]
    fan_out.resync()
    fan_out.close_all()
    for stream in streams:
        assert drain(stream.queue) == [Resync(), Closed("shutting-down")]
    with pytest.raises(TooManyStreams, match="shutting down"):
        fan_out.connect(user_id=BOB, transport="sse")


def test_a_change_survives_the_trip_through_redis_as_json() -> None:
    sent = change(uuid.uuid4(), 7)
    assert LiveChange.loads(sent.dumps()) == sent
    assert "user_id" not in sent.public()


def test_one_connection_gets_each_wanted_change_once_per_subscription_and_unwatch_stops_it() -> (
    None
):
    fan_out = hub()
    order = uuid.uuid4()
    socket = fan_out.connect(user_id=ALICE, transport="ws")
    one = socket.watch_order(order)
    feed = socket.watch_orders(owner=ALICE)
    fan_out.publish(change(order, 1))
    got = [
        (d.subscription, d.change.sequence) for d in drain(socket.queue) if isinstance(d, Delivery)
    ]
    assert got == [(one, 1), (feed, 1)]
    socket.unwatch(one)
    fan_out.publish(change(order, 2))
    assert [d.subscription for d in drain(socket.queue) if isinstance(d, Delivery)] == [feed]
    fan_out.disconnect(socket)
    fan_out.publish(change(order, 3))
    assert drain(socket.queue) == []
