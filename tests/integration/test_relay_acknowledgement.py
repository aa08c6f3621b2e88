"""A broker can lose what it accepted (Redis restarted without persistence drops its queues).
An event handed to the broker and not acknowledged by a worker within the acknowledgement
timeout is handed over again, a bounded number of times; an acknowledged one never is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from orderly.container import Container
from orderly.events.relay import OutboxRelay
from orderly.events.types import event_from_payload
from orderly.models import OutboxMessage
from orderly.repositories.outbox import OutboxRepository

ACK = timedelta(seconds=1)


async def register(container: Container, name: str) -> None:
    await container.users.register(
        email=f"{name}@example.com", password="a-long-passphrase", full_name=name.title()
    )


async def rows(container: Container) -> list[OutboxMessage]:
    async with container.session_factory() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


def broker_relay(container: Container, handed: list[OutboxMessage]) -> OutboxRelay:
    async def hand_over(message: OutboxMessage) -> None:  # accepted, then lost by the broker
        handed.append(message)

    return OutboxRelay(
        container.session_factory, hand_over, in_process=False, ack_timeout=ACK, max_deliveries=2
    )


async def test_an_event_the_broker_lost_is_handed_over_again_then_left_to_an_operator(
    container: Container,
) -> None:
    await register(container, "lost")
    handed: list[OutboxMessage] = []
    relay = broker_relay(container, handed)

    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0  # within the timeout: the worker may still come
    [row] = await rows(container)
    assert (row.deliveries, row.handled_at) == (1, None)

    await asyncio.sleep(ACK.total_seconds() + 0.2)
    assert await relay.relay_once() == 1  # no acknowledgement: handed over again
    assert [m.id for m in handed] == [row.id, row.id]
    [row] = await rows(container)
    assert row.published_at is not None
    assert row.available_at - row.published_at == 2 * ACK  # the second waits twice as long

    await asyncio.sleep(2 * ACK.total_seconds() + 0.2)
    assert await relay.relay_once() == 0  # max_deliveries reached: abandoned
    async with container.session_factory() as session:
        [counts] = await OutboxRepository(session).counts_by_type(
            max_deliveries=2, now=datetime.now(UTC)
        )
    assert (counts.abandoned, counts.in_flight, counts.handled) == (1, 0, 0)


async def test_an_acknowledged_event_is_not_handed_over_again(container: Container) -> None:
    await register(container, "acknowledged")
    handed: list[OutboxMessage] = []
    relay = broker_relay(container, handed)
    assert await relay.relay_once() == 1

    [message] = handed  # a worker handles it: every handler, then the acknowledgement
    await container.dispatcher.dispatch(
        event_from_payload(message.event_type, message.payload), acknowledge=True
    )
    [row] = await rows(container)
    assert row.handled_at is not None

    await asyncio.sleep(ACK.total_seconds() + 0.2)
    assert await relay.relay_once() == 0
    assert len(handed) == 1
    async with container.session_factory() as session:
        [counts] = await OutboxRepository(session).counts_by_type(
            max_deliveries=2, now=datetime.now(UTC)
        )
    assert (counts.handled, counts.in_flight, counts.pending) == (1, 0, 0)


async def test_a_handler_failing_in_the_worker_leaves_the_event_unacknowledged(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celery gave up on the task: no acknowledgement, so the relay tries again later."""
    await register(container, "failing")
    handed: list[OutboxMessage] = []
    assert await broker_relay(container, handed).relay_once() == 1
    [message] = handed

    async def broken(_: object) -> None:
        raise RuntimeError("the mail template is broken")

    event = event_from_payload(message.event_type, message.payload)
    handlings = container.dispatcher.registry[type(event)]
    failing = [*handlings[:-1], handlings[-1]._replace(handler=broken)]
    monkeypatch.setitem(container.dispatcher.registry, type(event), failing)
    with pytest.raises(RuntimeError, match="template"):
        await container.dispatcher.dispatch(event, acknowledge=True)
    [row] = await rows(container)
    assert row.handled_at is None
    async with container.session_factory() as session:
        [counts] = await OutboxRepository(session).counts_by_type(
            max_deliveries=2, now=datetime.now(UTC)
        )
    assert counts.in_flight == 1


async def test_an_in_process_relay_handles_what_it_delivers(container: Container) -> None:
    await register(container, "inline")
    handled: list[str] = []

    async def handle(message: OutboxMessage) -> None:
        handled.append(message.event_type)

    relay = OutboxRelay(container.session_factory, handle, in_process=True, ack_timeout=ACK)
    assert await relay.relay_once() == 1
    [row] = await rows(container)
    assert row.handled_at is not None
    assert row.handled_at == row.published_at
    await asyncio.sleep(ACK.total_seconds() + 0.2)
    assert await relay.relay_once() == 0
    assert handled == ["UserRegistered"]
