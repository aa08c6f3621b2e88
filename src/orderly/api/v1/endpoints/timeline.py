"""An order's timeline: what happened to it, when, and who did it; admins add notes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from orderly.api.deps import AdminWriter, CurrentViewer, Orders
from orderly.api.openapi import problem_responses
from orderly.schemas.timeline import TimelineEntryRead, TimelineNoteCreate
from orderly.services.orders import OrderNotFound

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("/{order_id}/timeline", responses=problem_responses(OrderNotFound))
async def read_timeline(
    order_id: uuid.UUID, viewer: CurrentViewer, orders: Orders
) -> list[TimelineEntryRead]:
    """Every step of the order, oldest first (its owner or an admin; anyone else: 404)."""
    entries = await orders.timeline(actor=viewer, order_id=order_id)
    return [TimelineEntryRead.of(entry) for entry in entries]


@router.post(
    "/{order_id}/timeline",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(OrderNotFound),
)
async def add_note(
    order_id: uuid.UUID, body: TimelineNoteCreate, admin: AdminWriter, orders: Orders
) -> TimelineEntryRead:
    """An administrator's note on the order's timeline (type ``order.note_added``)."""
    entry = await orders.add_note(actor=admin, order_id=order_id, note=body.note)
    return TimelineEntryRead.of(entry)
