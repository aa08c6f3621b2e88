"""An order's timeline as the API shows it (v1 endpoint, embedded in v2 orders)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from orderly.events.types import ActorKind
from orderly.models import TimelineEntry
from orderly.schemas.common import RequestModel
from orderly.schemas.text import MultiLine


class ActorRead(BaseModel):
    kind: ActorKind
    id: uuid.UUID | None = Field(description="the customer's or admin's id; none for system/worker")


class TimelineEntryRead(BaseModel):
    sequence: int = Field(description="1, 2, 3, ... per order: the entry's position")
    type: str = Field(description="what happened, e.g. order.placed, order.paid, order.note_added")
    from_status: str | None
    to_status: str
    actor: ActorRead
    reason: str | None
    data: dict[str, Any] = Field(
        description="details of this kind of entry (references, amounts, the note)"
    )
    occurred_at: datetime

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryRead:
        return cls(
            sequence=entry.sequence,
            type=entry.type,
            from_status=entry.from_status,
            to_status=entry.to_status,
            actor=ActorRead(kind=entry.actor.kind, id=entry.actor.id),
            reason=entry.reason,
            data=entry.data,
            occurred_at=entry.occurred_at,
        )


class TimelineNoteCreate(RequestModel):
    note: Annotated[str, MultiLine, Field(min_length=1, max_length=2000)]
