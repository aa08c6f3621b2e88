"""Live order status over Server-Sent Events: a snapshot, the timeline entries after the
client's ``Last-Event-ID``, then each change as it commits (``events/live.py`` fans them out).

The stream holds no database connection while idle: the snapshot and each backfill open a
short read-only unit of work through ``OrderService.get_order``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse

from orderly.api.deps import CurrentUser, Orders, get_container
from orderly.api.openapi import problem_responses
from orderly.container import Container
from orderly.events.live import (
    MESSAGES_SENT,
    Closed,
    LiveChange,
    LiveHub,
    Resync,
    Subscription,
    TooManyStreams,
)
from orderly.models import Order, User
from orderly.models.timeline import TimelineEntry
from orderly.services.orders import OrderNotFound, OrderService

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/orders", tags=["orders"])

EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def snapshot_of(order: Order) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "status": order.status.value,
        "sequence": order.timeline_position,
        "total_minor": order.total_minor,
        "currency": order.currency,
    }


def change_of(entry: TimelineEntry) -> LiveChange:
    return LiveChange(
        order_id=entry.order_id,
        user_id=uuid.UUID(int=0),  # not sent to clients
        sequence=entry.sequence,
        type=entry.type,
        from_status=entry.from_status,
        to_status=entry.to_status,
        actor_kind=entry.actor_kind,
        occurred_at=entry.occurred_at.isoformat(),
    )


def sse(event: str, data: dict[str, Any], *, event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data)}")
    return "\n".join(lines) + "\n\n"


class OrderFeed:
    """One client's view of one order: never sends a position twice or out of order; a gap
    (a change missed or overtaken) is filled from the timeline."""

    def __init__(self, *, orders: OrderService, user: User, order_id: uuid.UUID, last: int) -> None:
        self._orders = orders
        self._user = user
        self._order_id = order_id
        self.last = last  # the highest position the client has

    def opening(self, order: Order, *, after: int | None) -> list[str]:
        """The snapshot, then (resuming) every entry after ``after``."""
        chunks = [sse("snapshot", snapshot_of(order), event_id=order.timeline_position)]
        if after is not None:
            chunks += [self._change(change_of(e)) for e in order.timeline if e.sequence > after]
        self.last = max(self.last, order.timeline_position)
        return chunks

    async def refresh(self) -> list[str]:
        """A fresh snapshot and what the client missed (after the listener reconnected)."""
        order = await self._read()
        return self.opening(order, after=self.last)

    async def on_change(self, change: LiveChange) -> list[str]:
        if change.sequence <= self.last:
            return []
        if change.sequence == self.last + 1:
            self.last = change.sequence
            return [self._change(change)]
        order = await self._read()
        chunks = [self._change(change_of(e)) for e in order.timeline if e.sequence > self.last]
        self.last = max(self.last, order.timeline_position)
        return chunks

    async def _read(self) -> Order:
        return await self._orders.get_order(
            actor=self._user, order_id=self._order_id, with_timeline=True
        )

    @staticmethod
    def _change(change: LiveChange) -> str:
        return sse("change", change.public(), event_id=change.sequence)


async def stream(
    *,
    hub: LiveHub,
    subscription: Subscription,
    feed: OrderFeed,
    opening: list[str],
    heartbeat: float,
    retry_ms: int,
) -> AsyncIterator[str]:
    try:
        yield f"retry: {retry_ms}\n\n"
        for chunk in opening:
            yield chunk
        MESSAGES_SENT.labels("sse").inc(len(opening))
        while True:
            try:
                message = await asyncio.wait_for(subscription.queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if isinstance(message, Closed):
                yield f"retry: {retry_ms}\n" + sse("closing", {"reason": message.reason})
                return
            try:
                if isinstance(message, Resync):
                    chunks = await feed.refresh()
                else:
                    chunks = await feed.on_change(message)
            except Exception:  # the database away: the client reconnects and resumes
                log.warning("live_stream_read_failed", exc_info=True)
                yield sse("closing", {"reason": "unavailable"})
                return
            for chunk in chunks:
                yield chunk
            MESSAGES_SENT.labels("sse").inc(len(chunks))
    finally:
        hub.unsubscribe(subscription)


@router.get(
    "/{order_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {EVENT_STREAM: {"schema": {"type": "string", "format": "event-stream"}}},
            "description": "snapshot, then changes",
        },
        **problem_responses(OrderNotFound, TooManyStreams),
    },
)
async def order_events(
    order_id: uuid.UUID,
    user: CurrentUser,
    orders: Orders,
    container: Annotated[Container, Depends(get_container)],
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, description="resume after this position")
    ] = None,
) -> StreamingResponse:
    """The order's status as it changes (its owner or an admin; anyone else: 404).

    Events: `snapshot` (id: the order's timeline position), `change` (one timeline entry,
    id: its position), `closing` (the server ends the stream: `slow-client`,
    `shutting-down`, `unavailable`; reconnect with `Last-Event-ID`); `: ping` comments
    keep the connection alive."""
    hub = container.live
    subscription = hub.subscribe(user_id=user.id, kind="sse", order_id=order_id)
    try:  # subscribed before reading, so no change can fall between the two
        feed = OrderFeed(orders=orders, user=user, order_id=order_id, last=last_event_id or 0)
        order = await orders.get_order(actor=user, order_id=order_id, with_timeline=True)
    except BaseException:
        hub.unsubscribe(subscription)
        raise
    settings = container.settings
    body = stream(
        hub=hub,
        subscription=subscription,
        feed=feed,
        opening=feed.opening(order, after=last_event_id),
        heartbeat=settings.live_heartbeat,
        retry_ms=settings.live_retry_ms,
    )
    return StreamingResponse(body, media_type=EVENT_STREAM, headers=STREAM_HEADERS)
