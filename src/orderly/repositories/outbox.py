"""Queries on the outbox and on the processed-events record. Never commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import OutboxMessage, ProcessedEvent

# Built once, executed with bound values (see repositories/items.py); a record is a plain
# INSERT, not an entity flushed by the ORM.
_PROCESSED = select(ProcessedEvent.id).where(
    ProcessedEvent.event_id == bindparam("event_id"), ProcessedEvent.handler == bindparam("handler")
)
_RECORD = insert(ProcessedEvent.metadata.tables[ProcessedEvent.__tablename__])


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim_pending(self, *, limit: int, now: datetime) -> list[OutboxMessage]:
        """The oldest due rows, locked; other relays skip them (PostgreSQL SKIP LOCKED)."""
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None), OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self._session.scalars(statement))

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many rows wait, and when the oldest of them was written."""
        statement = select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.published_at.is_(None)
        )
        count, oldest = (await self._session.execute(statement)).one()
        if isinstance(oldest, str):  # SQLite aggregates come back as text
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return int(count), oldest

    async def is_processed(self, event_id: uuid.UUID, handler: str) -> bool:
        params = {"event_id": event_id, "handler": handler}
        return (await self._session.scalar(_PROCESSED, params)) is not None

    async def mark_processed(self, event_id: uuid.UUID, handler: str) -> None:
        values = {"event_id": event_id, "handler": handler, "processed_at": datetime.now(UTC)}
        await self._session.execute(_RECORD, values)
