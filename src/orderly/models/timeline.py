"""An order's timeline: one entry per event the order recorded, written in the same
transaction as the change, so it can never disagree with the order."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.events.types import Actor, ActorKind, OrderEvent
from orderly.models.base import Base, UTCDateTime


class TimelineEntry(Base):
    __tablename__ = "order_timeline"
    __table_args__ = (
        # A second writer of the same position (an unlocked concurrent change) fails its
        # commit instead of leaving a duplicate.
        UniqueConstraint("order_id", "sequence", name="uq_order_timeline_order_sequence"),
        # The all-orders feed reads the timeline in this order (newest first, or after a
        # position when a stream resumes): an index scan instead of sorting the table.
        Index("ix_order_timeline_position", "occurred_at", "order_id", "sequence"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)  # the event id
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int]
    type: Mapped[str] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @staticmethod
    def values_for(event: OrderEvent) -> dict[str, Any]:
        """The entry's columns for an order event (the unit of work inserts them at commit)."""
        return {
            "id": event.event_id,
            "order_id": event.order_id,
            "sequence": event.sequence,
            "type": event.public_name(),
            "from_status": event.from_status,
            "to_status": event.to_status,
            "actor_kind": event.actor.kind.value,
            "actor_id": event.actor.id,
            "reason": event.reason,
            "data": event.details(),
            "occurred_at": event.occurred_at,
        }

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind(self.actor_kind), self.actor_id)
