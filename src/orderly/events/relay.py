"""The outbox relay: hands committed events on (to the broker, or to in-process handlers) and
marks them published. Several relays can run: each claims rows with SKIP LOCKED.

A pass is three steps, and no transaction stays open while events are handed on (an
in-process handler may call the payment provider for seconds): claim a batch in one short
transaction (the rows' ``available_at`` moves one lease ahead, so no other relay takes them
meanwhile), deliver each event, then record the outcome in a second short transaction. A
relay that dies mid-batch leaves its rows to be claimed again when the lease runs out.

A failed hand-over leaves the row pending with a growing delay (exponential, capped), so a
broker outage delays events but loses none; delivery is at least once, and every handler is
idempotent by event id.

A broker that accepted an event can still lose it (Redis restarted without persistence drops
its queues). So a hand-over is not the end: the worker acknowledges an event once every
handler finished it (``handled_at``), and a row handed over and not acknowledged within the
acknowledgement timeout is due again and handed over anew, up to ``max_deliveries`` times. An
in-process relay runs the handlers itself: its hand-over is the handling. Each further
hand-over of an event waits twice as long as the one before, so workers merely running
behind are not flooded with copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.core import metrics
from orderly.core.config import Settings
from orderly.models import OutboxMessage
from orderly.repositories.outbox import OutboxRepository

log = structlog.get_logger(__name__)
Deliver = Callable[[OutboxMessage], Awaitable[None]]
MAX_BACKOFF = timedelta(minutes=5)
# Longer than any batch takes when the handlers run in-process (a payment: retries x timeout).
# A relay that only publishes to the broker is given a shorter one (ORDERLY_RELAY_CLAIM_LEASE).
CLAIM_LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=0.5 * 2 ** min(attempts, 12)))


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        deliver: Deliver,
        *,
        batch_size: int = 100,
        in_process: bool,
        lease: timedelta = CLAIM_LEASE,
        ack_timeout: timedelta = timedelta(minutes=10),
        max_deliveries: int = 5,
    ) -> None:
        """``in_process``: ``deliver`` runs the handlers, so a delivered event is handled, and
        a failure is the event's own (go on with the others). Otherwise ``deliver`` hands the
        event to a broker, whose worker acknowledges it; a broker that refuses one message
        refuses the next too, so the batch stops (the rest are released at once)."""
        self._sessions = session_factory
        self._deliver = deliver
        self._batch_size = batch_size
        self._in_process = in_process
        self._lease = lease
        self._ack_timeout = ack_timeout
        self._max_deliveries = max_deliveries

    @classmethod
    def to_broker(
        cls, session_factory: async_sessionmaker[AsyncSession], deliver: Deliver, settings: Settings
    ) -> OutboxRelay:
        """A relay handing events to the broker (the relay process, the worker's sweep)."""
        return cls(
            session_factory,
            deliver,
            batch_size=settings.relay_batch_size,
            in_process=False,
            lease=timedelta(seconds=settings.relay_claim_lease),
            ack_timeout=timedelta(seconds=settings.outbox_ack_timeout),
            max_deliveries=settings.outbox_max_deliveries,
        )

    async def relay_once(self) -> int:
        """Deliver one batch of due events; returns how many went out."""
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            claimed = await OutboxRepository(session).claim_pending(
                limit=self._batch_size,
                now=now,
                lease=self._lease,
                max_deliveries=self._max_deliveries,
            )
        delivered: list[OutboxMessage] = []
        failed: list[tuple[OutboxMessage, str]] = []
        for message in claimed:
            if message.published_at is not None:
                log.warning(
                    "outbox_handover_unacknowledged",
                    event_id=str(message.id),
                    event_type=message.event_type,
                    deliveries=message.deliveries,
                )
                metrics.OUTBOX_RELAYED.labels("redelivered").inc()
            try:
                await self._deliver(message)
            except Exception as exc:  # noqa: BLE001 - any failure: retry this row later
                failed.append((message, f"{type(exc).__name__}: {exc}"[:2000]))
                log.warning(
                    "outbox_delivery_failed",
                    event_id=str(message.id),
                    event_type=message.event_type,
                    attempts=message.attempts + 1,
                    error=type(exc).__name__,
                )
                if not self._in_process:
                    break
                continue
            delivered.append(message)
        untried = claimed[len(delivered) + len(failed) :]
        if claimed:
            await self._record(delivered, failed, untried)
            metrics.OUTBOX_RELAYED.labels("delivered").inc(len(delivered))
            metrics.OUTBOX_RELAYED.labels("failed").inc(len(failed))
        return len(delivered)

    async def _record(
        self,
        delivered: list[OutboxMessage],
        failed: list[tuple[OutboxMessage, str]],
        untried: list[OutboxMessage],
    ) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            outbox = OutboxRepository(session)
            # Each hand-over of the same event waits twice as long for its acknowledgement:
            # workers that fall behind by more than the timeout get one duplicate per event,
            # not a new one every timeout.
            by_deliveries: dict[int, list[uuid.UUID]] = defaultdict(list)
            for message in delivered:
                by_deliveries[message.deliveries].append(message.id)
            for earlier, ids in by_deliveries.items():
                await outbox.mark_published(
                    ids,
                    at=now,
                    handled=self._in_process,
                    ack_deadline=now + self._ack_timeout * 2**earlier,
                )
            for message, error in failed:
                attempts = message.attempts + 1
                await outbox.mark_failed(
                    message.id, attempts=attempts, error=error, retry_at=now + backoff(attempts)
                )
            await outbox.release([m.id for m in untried], at=now)

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
