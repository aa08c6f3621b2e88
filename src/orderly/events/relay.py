"""The outbox relay: hands committed events on (to the broker, or to in-process handlers) and
marks them published. Several relays can run: each claims rows with SKIP LOCKED.

A failed hand-over leaves the row pending with a growing delay (exponential, capped), so a
broker outage delays events but loses none; delivery is at least once, and every handler is
idempotent by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.models import OutboxMessage
from orderly.repositories.outbox import OutboxRepository

log = structlog.get_logger(__name__)
Deliver = Callable[[OutboxMessage], Awaitable[None]]
MAX_BACKOFF = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=0.5 * 2 ** min(attempts, 12)))


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        deliver: Deliver,
        *,
        batch_size: int = 100,
        stop_on_failure: bool = True,
    ) -> None:
        """``stop_on_failure``: a broker that refuses one message refuses the next too, so
        stop the batch; in-process handlers fail one by one, so go on with the others."""
        self._sessions = session_factory
        self._deliver = deliver
        self._batch_size = batch_size
        self._stop_on_failure = stop_on_failure

    async def relay_once(self) -> int:
        """Deliver one batch of due events; returns how many went out."""
        now = datetime.now(UTC)
        delivered = 0
        async with self._sessions() as session, session.begin():
            outbox = OutboxRepository(session)
            for message in await outbox.claim_pending(limit=self._batch_size, now=now):
                try:
                    await self._deliver(message)
                except Exception as exc:  # noqa: BLE001 - any failure: retry this row later
                    message.attempts += 1
                    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    message.available_at = now + backoff(message.attempts)
                    log.warning(
                        "outbox_delivery_failed",
                        event_id=str(message.id),
                        event_type=message.event_type,
                        attempts=message.attempts,
                        error=type(exc).__name__,
                    )
                    if self._stop_on_failure:
                        break
                    continue
                message.published_at = datetime.now(UTC)
                delivered += 1
        return delivered

    async def run(self, stop: asyncio.Event, *, interval: float) -> None:
        """Poll until ``stop`` is set; drain without sleeping while batches come back full."""
        while not stop.is_set():
            try:
                delivered = await self.relay_once()
            except Exception:  # e.g. the database restarting: log, keep going
                log.exception("outbox_relay_pass_failed")
                delivered = 0
            if delivered >= self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
