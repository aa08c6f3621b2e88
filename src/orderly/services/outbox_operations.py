"""An operator's use cases on the outbox table (``orderly outbox status|retry|replay``).

Like the relay, these work on the SQL outbox itself (a session per use case, one transaction
each), not through the services' unit of work: the outbox is that unit of work's own
machinery, which the in-memory fakes of the unit tests do not have.

What "failed" means here: the relay could not hand a message over (broker down, ...); the
row stays unpublished with its error and a growing backoff. A handler that fails in a worker
after the hand-over is retried by Celery; when Celery gives up, the worker never acknowledges
the event, and the relay hands it over again after the acknowledgement timeout, up to
ORDERLY_OUTBOX_MAX_DELIVERIES times; then it is "abandoned", and ``replay`` sends it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.core.errors import Conflict, NotFound, Unprocessable
from orderly.models import OutboxState
from orderly.repositories.outbox import OutboxCounts, OutboxRepository


class OutboxMessageNotFound(NotFound):
    code = "outbox-message-not-found"


class OutboxMessageNotPublished(Conflict):
    code = "outbox-message-not-published"


class OutboxMessageNotAbandoned(Conflict):
    code = "outbox-message-not-abandoned"


class UnknownHandler(Unprocessable):
    code = "unknown-handler"


@dataclass(frozen=True, slots=True)
class Replayed:
    event_id: uuid.UUID
    event_type: str
    rerun: list[str]  # handlers whose "finished" record was dropped, so they run again


class OutboxOperations:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        recorded_handlers: Callable[[str], Collection[str]],
        max_deliveries: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``recorded_handlers``: for an event type, the handlers that record when they
        finished an event (the dispatcher's registry), the ones ``replay`` can run again."""
        self._sessions = sessions
        self._recorded_handlers = recorded_handlers
        self._max_deliveries = max_deliveries
        self._clock = clock or (lambda: datetime.now(UTC))

    async def status(self) -> list[OutboxCounts]:
        async with self._sessions() as session:
            return await OutboxRepository(session).counts_by_type(
                max_deliveries=self._max_deliveries, now=self._clock()
            )

    async def retry_failed(self, *, event_type: str | None = None) -> int:
        """Failed messages become pending and due now; returns how many."""
        async with self._sessions() as session, session.begin():
            return await OutboxRepository(session).retry_failed(
                at=self._clock(), event_type=event_type
            )

    async def replay(
        self, *, event_id: uuid.UUID, rerun: Collection[str] = (), only_abandoned: bool = False
    ) -> Replayed:
        """Hand a published message over again. Every handler is idempotent: those that
        change state check it (an order already paid is not charged again), those that
        recorded finishing it (mails, reports) are skipped, unless named in ``rerun``.
        ``only_abandoned`` (the admin panel's button): refused unless the relay gave the
        message up, checked under the row's lock, so a stale page cannot reset the count of
        hand-overs of a message still in flight."""
        async with self._sessions() as session, session.begin():
            outbox = OutboxRepository(session)
            message = await outbox.get(event_id, for_update=True)
            if message is None:
                raise OutboxMessageNotFound(f"No outbox message with id {event_id}", field="id")
            state = message.state(max_deliveries=self._max_deliveries, now=self._clock())
            if only_abandoned and state is not OutboxState.ABANDONED:
                raise OutboxMessageNotAbandoned(
                    f"Message {event_id} is {state}, not abandoned: nothing to replay",
                    field="id",
                )
            if message.published_at is None:
                raise OutboxMessageNotPublished(
                    f"Message {event_id} has not been handed over yet; "
                    "`orderly outbox retry` makes it due now",
                    field="id",
                )
            known = set(self._recorded_handlers(message.event_type))
            unknown = sorted(set(rerun) - known)
            if unknown:
                choices = ", ".join(sorted(known)) or "none"
                raise UnknownHandler(
                    f"{message.event_type} has no recorded handler {', '.join(unknown)} "
                    f"(it has: {choices})",
                    field="rerun",
                )
            await outbox.forget_processed(event_id, sorted(rerun))
            await outbox.republish(event_id, at=self._clock())
            return Replayed(event_id, message.event_type, sorted(rerun))
