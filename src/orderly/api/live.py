"""Live order status over Server-Sent Events: a snapshot, the timeline entries after the
client's ``Last-Event-ID``, then each change as it commits (``events/live.py`` fans them out,
``api/live_feeds.py`` decides what to send).

The stream holds no database connection while idle: the snapshot and each backfill open a
short read-only unit of work.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from orderly.api.deps import CurrentUser, get_container
from orderly.api.live_feeds import Feed, OrderFeed, OrdersFeed, Outgoing
from orderly.api.openapi import problem_responses
from orderly.container import Container
from orderly.events.live import MESSAGES_SENT, Closed, Connection, Delivery, LiveHub, TooManyStreams
from orderly.models import OrderStatus
from orderly.services.live_status import (
    FeedFilter,
    FeedForbidden,
    FeedPosition,
    InvalidFeedPosition,
)
from orderly.services.orders import OrderNotFound

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/orders", tags=["orders"])
# ``/orders/events`` must be matched before ``/orders/{order_id}``: its own router, included
# ahead of the orders router.
feed_router = APIRouter(prefix="/orders", tags=["orders"])

EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
STREAM_RESPONSE = {
    "content": {EVENT_STREAM: {"schema": {"type": "string", "format": "event-stream"}}},
    "description": "snapshot, then changes",
}
Containers = Annotated[Container, Depends(get_container)]


def sse(event: str, data: dict[str, Any], *, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data)}")
    return "\n".join(lines) + "\n\n"


def sse_chunks(items: list[Outgoing]) -> str:
    return "".join(sse(item.event, item.data, event_id=item.id) for item in items)


async def open_stream(hub: LiveHub, connection: Connection, feed: Feed) -> list[Outgoing]:
    """The feed's opening, the connection dropped if it cannot be read (not found, ...)."""
    try:
        return await feed.open()
    except BaseException:
        hub.disconnect(connection)
        raise


async def stream(
    *,
    hub: LiveHub,
    connection: Connection,
    feed: Feed,
    opening: list[Outgoing],
    heartbeat: float,
    retry_ms: int,
) -> AsyncIterator[str]:
    try:
        yield f"retry: {retry_ms}\n\n" + sse_chunks(opening)
        MESSAGES_SENT.labels("sse").inc(len(opening))
        while True:
            try:
                message = await asyncio.wait_for(connection.next(), timeout=heartbeat)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if isinstance(message, Closed):
                yield f"retry: {retry_ms}\n\n" + sse("closing", {"reason": message.reason})
                return
            try:
                if isinstance(message, Delivery):
                    items = await feed.on_change(message.change)
                else:
                    items = await feed.refresh()
            except Exception:  # the database away: the client reconnects and resumes
                log.warning("live_stream_read_failed", exc_info=True)
                yield sse("closing", {"reason": "unavailable"})
                return
            if items:
                yield sse_chunks(items)
                MESSAGES_SENT.labels("sse").inc(len(items))
    finally:
        hub.disconnect(connection)


def respond(
    container: Container, connection: Connection, feed: Feed, opening: list[Outgoing]
) -> StreamingResponse:
    settings = container.settings
    body = stream(
        hub=container.live,
        connection=connection,
        feed=feed,
        opening=opening,
        heartbeat=settings.live_heartbeat,
        retry_ms=settings.live_retry_ms,
    )
    return StreamingResponse(body, media_type=EVENT_STREAM, headers=STREAM_HEADERS)


@router.get(
    "/{order_id}/events",
    response_class=StreamingResponse,
    responses={200: STREAM_RESPONSE, **problem_responses(OrderNotFound, TooManyStreams)},
)
async def order_events(
    order_id: uuid.UUID,
    user: CurrentUser,
    container: Containers,
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
    connection = hub.connect(user_id=user.id, transport="sse")
    connection.watch_order(order_id)  # before reading, so no change falls between the two
    feed = OrderFeed(live=container.live_status, user=user, order_id=order_id, after=last_event_id)
    return respond(container, connection, feed, await open_stream(hub, connection, feed))


@feed_router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: STREAM_RESPONSE,
        **problem_responses(InvalidFeedPosition, FeedForbidden, TooManyStreams),
    },
)
async def orders_events(
    user: CurrentUser,
    container: Containers,
    status: Annotated[
        OrderStatus | None, Query(description="only changes to this status (and orders in it)")
    ] = None,
    user_id: Annotated[
        uuid.UUID | None, Query(description="admins: one user's orders (default: everyone's)")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=80, description="resume after this position"),
    ] = None,
) -> StreamingResponse:
    """Every order of the caller as they change (admins: every order, or one user's), optionally
    only changes to one `status`.

    Events: `snapshot` (`{"orders": [...], "total": n}`, the newest orders of the feed, each
    like the one-order snapshot), `change` (one timeline entry of any of the orders),
    `closing`. Ids are feed positions, `<µs since epoch>.<order id hex>.<sequence>`: each is
    the newest position the client has been sent; reconnecting with it as `Last-Event-ID`
    gives the snapshot and then every entry after it."""
    feed_filter = FeedFilter.for_actor(user, status=status, user_id=user_id)
    after = None if last_event_id is None else FeedPosition.parse(last_event_id)
    hub = container.live
    connection = hub.connect(user_id=user.id, transport="sse")
    connection.watch_orders(owner=feed_filter.owner, statuses=feed_filter.statuses)
    feed = OrdersFeed(live=container.live_status, feed=feed_filter, after=after)
    return respond(container, connection, feed, await open_stream(hub, connection, feed))
