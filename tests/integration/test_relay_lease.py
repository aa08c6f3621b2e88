"""A relay that dies in the middle of a batch (SIGKILL, a lost node) leaves the events it claimed
to another relay once its lease has run out, not before."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from orderly.container import Container
from orderly.events.relay import OutboxRelay
from orderly.models import OutboxMessage


async def test_events_a_dead_relay_claimed_go_to_another_after_its_lease(
    container: Container,
) -> None:
    await container.users.register(
        email="lease@example.com", password="a-long-passphrase", full_name="Lease Test"
    )

    async def die(_: OutboxMessage) -> None:
        raise asyncio.CancelledError  # the process is gone: nothing recorded, nothing released

    lease = timedelta(seconds=1)
    with pytest.raises(asyncio.CancelledError):
        await OutboxRelay(
            container.session_factory, die, in_process=False, lease=lease
        ).relay_once()

    delivered: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        delivered.append(message.event_type)

    survivor = OutboxRelay(container.session_factory, deliver, in_process=False, lease=lease)
    assert await survivor.relay_once() == 0  # still held by the dead relay
    await asyncio.sleep(1.2)
    assert await survivor.relay_once() == 1
    assert delivered == ["UserRegistered"]
