"""The relay's sample of what waits: pending outbox events and the age of the oldest."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import insert

from orderly.container import Container
from orderly.jobs.backlog import BacklogSampler
from orderly.models import OutboxMessage


def gauge(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, name
    return value


async def add_event(container: Container, *, age: timedelta, published: bool = False) -> None:
    written = datetime.now(UTC) - age
    row = {
        "id": uuid.uuid4(),
        "event_type": "UserRegistered",
        "payload": {},
        "created_at": written,
        "available_at": written,
        "published_at": written if published else None,
    }
    async with container.session_factory() as session, session.begin():
        await session.execute(insert(OutboxMessage), [row])


async def test_the_sample_counts_pending_events_and_the_age_of_the_oldest(
    container: Container,
) -> None:
    sampler = BacklogSampler(container.session_factory, None, interval=60)
    await sampler.sample()
    assert (gauge("orderly_outbox_pending"), gauge("orderly_outbox_lag_seconds")) == (0, 0)

    await add_event(container, age=timedelta(minutes=10), published=True)  # not waiting
    await add_event(container, age=timedelta(seconds=90))
    await add_event(container, age=timedelta(seconds=5))
    await sampler.sample()
    assert gauge("orderly_outbox_pending") == 2
    assert 90 <= gauge("orderly_outbox_lag_seconds") < 120


async def test_sampling_goes_on_after_a_failure_and_ends_when_told(container: Container) -> None:
    calls: list[int] = []

    class Flaky(BacklogSampler):
        async def sample(self) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("database away")
            await super().sample()

    stop = asyncio.Event()
    running = asyncio.create_task(Flaky(container.session_factory, None, interval=0.05).run(stop))
    for _ in range(100):  # at most 5 s
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert len(calls) >= 3
