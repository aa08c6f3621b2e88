"""``orderStatus(orderId)`` over graphql-transport-ws, fed by the live-status hub that feeds
the REST live stream (``events/live.py``): a snapshot, then each committed change of the order
in timeline order. A change that overtook another, or changes missed while the Redis listener
reconnected, are filled in from the timeline. Like the SSE stream, the subscription holds no
database connection while it waits: each read is a short read-only unit of work."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from orderly.core.errors import Unavailable
from orderly.events.live import Closed, LiveChange, Resync
from orderly.graphql.context import Info
from orderly.graphql.queries import parse_id
from orderly.graphql.types import OrderStatusUpdate, subscription
from orderly.models import Order, OrderStatus, TimelineEntry, User
from orderly.services.orders import OrderService


class StreamClosed(Unavailable):
    """The server ended the subscription (``slow-client``, ``shutting-down``): subscribe
    again, with ``after`` set to the last sequence received."""

    code = "stream-closed"


def snapshot(order: Order) -> OrderStatusUpdate:
    return OrderStatusUpdate(
        order_id=strawberry.ID(str(order.id)),
        sequence=order.timeline_position,
        type="snapshot",
        status=order.status,
        from_status=None,
        occurred_at=None,
    )


def update_of(change: LiveChange | TimelineEntry) -> OrderStatusUpdate:
    occurred = change.occurred_at
    return OrderStatusUpdate(
        order_id=strawberry.ID(str(change.order_id)),
        sequence=change.sequence,
        type=change.type,
        status=OrderStatus(change.to_status),
        from_status=change.from_status,
        occurred_at=datetime.fromisoformat(occurred) if isinstance(occurred, str) else occurred,
    )


class Feed:
    """One subscriber's position in one order's timeline: nothing twice, nothing skipped."""

    def __init__(self, orders: OrderService, user: User, order: Order, after: int) -> None:
        self._orders = orders
        self._user = user
        self._order_id = order.id
        self.last = after

    async def missed(self) -> list[OrderStatusUpdate]:
        order = await self._orders.get_order(
            actor=self._user, order_id=self._order_id, with_timeline=True
        )
        updates = [update_of(e) for e in order.timeline if e.sequence > self.last]
        self.last = max(self.last, order.timeline_position)
        return updates

    async def on_change(self, change: LiveChange) -> list[OrderStatusUpdate]:
        if change.sequence <= self.last:
            return []
        if change.sequence == self.last + 1:
            self.last = change.sequence
            return [update_of(change)]
        return await self.missed()


@strawberry.type
class Subscription:
    @subscription("The order's status as it changes (owner or admin)")
    async def order_status(
        self,
        info: Info,
        order_id: strawberry.ID,
        after: Annotated[
            int | None, strawberry.argument(description="resume: the steps after this sequence")
        ] = None,
    ) -> AsyncGenerator[OrderStatusUpdate, None]:
        context = info.context
        wanted = parse_id(order_id, "orderId")
        user = await context.user()
        hub = context.container.live
        orders = context.container.orders
        connection = hub.connect(user_id=user.id, transport="graphql")
        try:  # watching before reading, so no change falls between the two
            connection.watch_order(wanted)
            order = await orders.get_order(actor=user, order_id=wanted, with_timeline=True)
            feed = Feed(orders, user, order, after=order.timeline_position)
            yield snapshot(order)
            if after is not None:
                for entry in order.timeline:
                    if entry.sequence > after:
                        yield update_of(entry)
            while True:
                message = await connection.next()
                if isinstance(message, Closed):
                    raise StreamClosed(f"The server closed the stream: {message.reason}")
                updates = await (
                    feed.missed() if isinstance(message, Resync) else feed.on_change(message.change)
                )
                for update in updates:
                    yield update
        finally:
            hub.disconnect(connection)
