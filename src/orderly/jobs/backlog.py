"""What waits, sampled by the relay for its /metrics: the outbox backlog (pending events,
age of the oldest) and the depth of each broker queue, Redis or RabbitMQ alike.

A sample costs one indexed COUNT on the outbox and one queue declaration per queue (Redis:
one pipeline of LLENs, one per priority level; RabbitMQ: a passive declaration), every
``interval`` seconds, whether or not anybody scrapes: bounded, and never in the way of the
relay's own passes, which a failing sample does not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import anyio
import structlog
from celery import Celery
from kombu.transport.virtual import Transport as VirtualTransport
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.core import metrics
from orderly.jobs.celery_app import QUEUES
from orderly.repositories.outbox import OutboxRepository

log = structlog.get_logger(__name__)


def queue_depths(celery: Celery, queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """Messages ready in each queue; a queue the broker does not know (yet) holds none."""
    depths: dict[str, int] = {}
    with celery.connection_for_read() as connection:
        connection.connect()
        # RabbitMQ: a passive declaration, which creates nothing. Redis (a virtual transport)
        # declares nothing either way, and its passive check is broken under a key prefix
        # (kombu's EXISTS is not prefixed), so it asks for the lengths directly.
        passive = not isinstance(connection.transport, VirtualTransport)
        channel: Any = connection.channel()  # the stubs' StdChannel lacks queue_declare
        try:
            for name in queues:
                try:
                    depths[name] = int(channel.queue_declare(queue=name, passive=passive)[1])
                except connection.channel_errors:  # not declared: RabbitMQ closes the channel
                    depths[name] = 0
                    channel.close()
                    channel = connection.channel()
        finally:
            channel.close()
    return depths


class BacklogSampler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        celery: Celery | None,
        *,
        interval: float,
        queues: Iterable[str] = QUEUES,
    ) -> None:
        self._sessions = sessions
        self._celery = celery
        self._interval = interval
        self._queues = tuple(queues)

    async def sample(self) -> None:
        async with self._sessions() as session:
            pending, oldest = await OutboxRepository(session).backlog()
        metrics.record_outbox_backlog(pending, oldest)
        if self._celery is not None:
            depths = await anyio.to_thread.run_sync(queue_depths, self._celery, self._queues)
            for queue, depth in depths.items():
                metrics.QUEUE_DEPTH.labels(queue).set(depth)

    async def run(self, stop: asyncio.Event) -> None:
        """Sample now, then every interval until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.sample()
            except Exception:  # the database or broker away: the next sample may succeed
                log.warning("backlog_sample_failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
