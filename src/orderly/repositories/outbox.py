"""Queries on the outbox and on the processed-events record. Never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import OutboxMessage, ProcessedEvent

# Built once, executed with bound values (see repositories/items.py); a record is a plain
# INSERT, not an entity flushed by the ORM.
_PROCESSED = select(ProcessedEvent.id).where(
    ProcessedEvent.event_id == bindparam("event_id"), ProcessedEvent.handler == bindparam("handler")
)
_RECORD = insert(cast(Table, ProcessedEvent.__table__))  # typed as any FromClause


def _utc(value: datetime | str | None) -> datetime | None:
    """An aggregate's time: SQLite returns text without a zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """One event type's messages: waiting, waiting after a failed hand-over, handed over and
    not handled yet, handed over the most times allowed and never handled, handled."""

    event_type: str
    pending: int
    failed: int
    in_flight: int
    abandoned: int
    handled: int
    oldest_pending: datetime | None


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim_pending(
        self, *, limit: int, now: datetime, lease: timedelta, max_deliveries: int
    ) -> list[OutboxMessage]:
        """The oldest due rows not handled yet, taken for ``lease``: other relays skip them
        while this transaction runs (PostgreSQL SKIP LOCKED), and after it until the lease
        ends. A row handed over ``max_deliveries`` times without being handled is left to an
        operator (``orderly outbox replay``)."""
        statement = (
            select(OutboxMessage)
            .where(
                OutboxMessage.handled_at.is_(None),
                OutboxMessage.available_at <= now,
                OutboxMessage.deliveries < max_deliveries,
            )
            .order_by(OutboxMessage.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = list(await self._session.scalars(statement))
        for message in claimed:
            message.available_at = now + lease
        return claimed

    async def mark_published(
        self, ids: list[uuid.UUID], *, at: datetime, handled: bool, ack_deadline: datetime
    ) -> None:
        """Handed over at ``at``: ``handled`` when the handlers ran in this process; else the
        worker acknowledges it (``mark_handled``), and without that by ``ack_deadline`` the
        hand-over counts as lost and the row is due again."""
        if ids:
            await self._session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(
                    published_at=at,
                    available_at=ack_deadline,
                    deliveries=OutboxMessage.deliveries + 1,
                    handled_at=at if handled else OutboxMessage.handled_at,
                )
            )

    async def mark_handled(self, event_id: uuid.UUID, *, at: datetime) -> None:
        """Every handler finished the event (the first acknowledgement wins)."""
        await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == event_id, OutboxMessage.handled_at.is_(None))
            .values(handled_at=at)
        )

    async def mark_failed(
        self, event_id: uuid.UUID, *, attempts: int, error: str, retry_at: datetime
    ) -> None:
        await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == event_id)
            .values(attempts=attempts, last_error=error, available_at=retry_at)
        )

    async def release(self, ids: list[uuid.UUID], *, at: datetime) -> None:
        """Claimed rows not tried after all: due again at once."""
        if ids:
            await self._session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(available_at=at)
            )

    async def make_due(self, event_id: uuid.UUID, *, at: datetime) -> bool:
        """An unpublished row becomes due at ``at`` (an operator's retry); False when there
        is no such row or it has been published."""
        result = await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == event_id, OutboxMessage.published_at.is_(None))
            .values(available_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many rows wait, and when the oldest of them was written."""
        statement = select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.published_at.is_(None)
        )
        count, oldest = (await self._session.execute(statement)).one()
        return int(count), _utc(oldest)

    async def counts_by_type(self, *, max_deliveries: int, now: datetime) -> list[OutboxCounts]:
        """Per event type: the counts of ``OutboxCounts`` (``OutboxMessage.state``'s rule),
        and when the oldest unpublished message was written."""
        waiting = OutboxMessage.published_at.is_(None)
        failing = OutboxMessage.last_error.is_not(None)
        unhandled = OutboxMessage.published_at.is_not(None) & OutboxMessage.handled_at.is_(None)
        overdue = OutboxMessage.available_at <= now  # the last hand-over's acknowledgement
        given_up = (OutboxMessage.deliveries >= max_deliveries) & overdue
        statement = (
            select(
                OutboxMessage.event_type,
                func.count(case((waiting & ~failing, 1))),
                func.count(case((waiting & failing, 1))),
                func.count(case((unhandled & ~given_up, 1))),
                func.count(case((unhandled & given_up, 1))),
                func.count(OutboxMessage.handled_at),
                func.min(case((waiting, OutboxMessage.created_at))),
            )
            .group_by(OutboxMessage.event_type)
            .order_by(OutboxMessage.event_type)
        )
        return [
            OutboxCounts(
                kind, int(pending), int(failed), int(flying), int(lost), int(done), _utc(oldest)
            )
            for kind, pending, failed, flying, lost, done, oldest in await self._session.execute(
                statement
            )
        ]

    async def get(self, event_id: uuid.UUID, *, for_update: bool = False) -> OutboxMessage | None:
        return await self._session.get(OutboxMessage, event_id, with_for_update=for_update)

    async def retry_failed(self, *, at: datetime, event_type: str | None = None) -> int:
        """Unpublished rows whose hand-over failed become plain pending rows, due at ``at``
        (attempts and error cleared, so the backoff starts afresh); returns how many."""
        statement = (
            update(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None), OutboxMessage.last_error.is_not(None))
            .values(available_at=at, attempts=0, last_error=None)
        )
        if event_type is not None:
            statement = statement.where(OutboxMessage.event_type == event_type)
        return int(getattr(await self._session.execute(statement), "rowcount", 0))

    async def republish(self, event_id: uuid.UUID, *, at: datetime) -> None:
        """A published row is unpublished again, due at ``at``: the relay hands it on anew
        (as often as a new row may, its count of hand-overs starting afresh)."""
        await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == event_id)
            .values(
                published_at=None,
                handled_at=None,
                available_at=at,
                attempts=0,
                deliveries=0,
                last_error=None,
            )
        )

    async def forget_processed(self, event_id: uuid.UUID, handlers: list[str]) -> int:
        """Drop the records that these handlers finished the event, so they run again."""
        if not handlers:
            return 0
        statement = delete(ProcessedEvent).where(
            ProcessedEvent.event_id == event_id, ProcessedEvent.handler.in_(handlers)
        )
        return int(getattr(await self._session.execute(statement), "rowcount", 0))

    async def is_processed(self, event_id: uuid.UUID, handler: str) -> bool:
        params = {"event_id": event_id, "handler": handler}
        return (await self._session.scalar(_PROCESSED, params)) is not None

    async def mark_processed(self, event_id: uuid.UUID, handler: str) -> None:
        values = {"event_id": event_id, "handler": handler, "processed_at": datetime.now(UTC)}
        await self._session.execute(_RECORD, values)
