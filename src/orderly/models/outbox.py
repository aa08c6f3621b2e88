"""The transactional outbox: events written in the same commit as the change they describe,
and the record of which handler has already processed which event."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.models.base import Base, UTCDateTime, utcnow


class OutboxState(StrEnum):
    """Where a message stands: waiting for the relay (pending; failing once a hand-over
    failed), handed over and not acknowledged (in flight; abandoned once handed over the
    most times allowed, left to an operator's replay), or handled."""

    PENDING = "pending"
    FAILING = "failing"
    IN_FLIGHT = "in flight"
    ABANDONED = "abandoned"
    HANDLED = "handled"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "published_at", "available_at"),
        Index("ix_outbox_unhandled", "handled_at", "available_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)  # the event id
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When a relay may take the row next: now, after a failed hand-over's backoff, after a
    # claim's lease, or (handed over, not yet handled) when the hand-over counts as lost.
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last hand-over
    # Set once every handler finished the event: by the worker that handled it, or by the
    # in-process relay. A row handed over and never handled is handed over again.
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deliveries: Mapped[int] = mapped_column(default=0, server_default="0")  # hand-overs
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # W3C trace context of the span that wrote the event: its handler's span continues it.
    traceparent: Mapped[str | None] = mapped_column(String(55))

    def state(self, *, max_deliveries: int, now: datetime) -> OutboxState:
        """The states ``orderly outbox status`` counts; ``max_deliveries``: the hand-overs
        after which the relay gives a message up (ORDERLY_OUTBOX_MAX_DELIVERIES). The last
        hand-over stays in flight until its acknowledgement is overdue (``available_at``)."""
        if self.handled_at is not None:
            return OutboxState.HANDLED
        if self.published_at is None:
            return OutboxState.PENDING if self.last_error is None else OutboxState.FAILING
        if self.deliveries >= max_deliveries and self.available_at <= now:
            return OutboxState.ABANDONED
        return OutboxState.IN_FLIGHT


class ProcessedEvent(Base):
    """One row per (event, handler) that finished: a redelivered event is skipped."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("event_id", "handler", name="uq_processed_events_event"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    handler: Mapped[str] = mapped_column(String(100))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
