"""What live status streams read: one order with its timeline, and the all-orders feed (the
newest orders, the feed's latest position, its timeline entries after a position).

Each read is one short read-only unit of work, so an idle stream holds no connection.

The feed's resumable position (``FeedPosition``) is the timeline entry's
``(occurred_at, order_id, sequence)``: totally ordered, stable, and stored with every entry,
so a resumed feed is one range query on any database. It is written as
``<microseconds since the epoch>.<order id hex>.<sequence>``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orderly.core.errors import Forbidden, Unprocessable
from orderly.models import Order, OrderStatus, User
from orderly.models.timeline import TimelineEntry
from orderly.services.orders import visible_to
from orderly.unit_of_work import UnitOfWorkFactory

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class InvalidFeedPosition(Unprocessable):
    code = "invalid-last-event-id"


class FeedForbidden(Forbidden):
    code = "feed-forbidden"


@dataclass(frozen=True, order=True, slots=True)
class FeedPosition:
    occurred_at: datetime
    order_id: uuid.UUID
    sequence: int

    def __str__(self) -> str:
        micros = (self.occurred_at - _EPOCH) // _MICROSECOND
        return f"{micros}.{self.order_id.hex}.{self.sequence}"

    @classmethod
    def of(cls, entry: TimelineEntry) -> FeedPosition:
        return cls(entry.occurred_at, entry.order_id, entry.sequence)

    @classmethod
    def parse(cls, raw: str) -> FeedPosition:
        try:
            micros, order_id, sequence = raw.split(".")
            position = cls(
                _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=order_id), int(sequence)
            )
        except (ValueError, OverflowError):
            raise InvalidFeedPosition(
                "Last-Event-ID must be an id this feed sent", field="Last-Event-ID"
            ) from None
        if position.sequence < 0:
            raise InvalidFeedPosition(
                "Last-Event-ID has a negative position", field="Last-Event-ID"
            )
        return position

    def key(self) -> tuple[datetime, uuid.UUID, int]:
        return (self.occurred_at, self.order_id, self.sequence)


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Whose orders (None: everyone's, admins only) and, optionally, only changes to one
    status (the snapshot then lists the orders now in that status)."""

    owner: uuid.UUID | None
    status: OrderStatus | None

    @classmethod
    def for_actor(
        cls, actor: User, *, status: OrderStatus | None, user_id: uuid.UUID | None
    ) -> FeedFilter:
        """Customers watch their own orders; an admin watches all, or one user's."""
        if actor.is_admin:
            return cls(owner=user_id, status=status)
        if user_id is not None and user_id != actor.id:
            raise FeedForbidden("Only administrators may watch another user's orders")
        return cls(owner=actor.id, status=status)

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset() if self.status is None else frozenset({self.status.value})


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    orders: list[Order]  # newest first, at most the limit
    total: int
    latest: FeedPosition | None  # the newest entry of the feed when the snapshot was read


class LiveStatusService:
    def __init__(self, uow: UnitOfWorkFactory, *, snapshot_limit: int, backfill_limit: int) -> None:
        self._uow = uow
        self.snapshot_limit = snapshot_limit
        self.backfill_limit = backfill_limit

    async def order(self, *, actor: User, order_id: uuid.UUID) -> Order:
        """The order with its timeline, if ``actor`` may see it (else ``OrderNotFound``)."""
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(order_id, with_timeline=True)
        return visible_to(actor, order, order_id)

    async def feed_snapshot(self, feed: FeedFilter) -> FeedSnapshot:
        async with self._uow(read_only=True) as uow:
            latest = await uow.orders.feed_entries(
                user_id=feed.owner, to_status=self._to(feed), after=None, limit=1, newest_first=True
            )
            orders, total = await uow.orders.page(
                limit=self.snapshot_limit, offset=0, user_id=feed.owner, status=feed.status
            )
        return FeedSnapshot(orders, total, FeedPosition.of(latest[0]) if latest else None)

    async def feed_since(self, feed: FeedFilter, after: FeedPosition) -> list[TimelineEntry]:
        """The feed's entries after ``after``, oldest first, at most ``backfill_limit``."""
        async with self._uow(read_only=True) as uow:
            return await uow.orders.feed_entries(
                user_id=feed.owner,
                to_status=self._to(feed),
                after=after.key(),
                limit=self.backfill_limit,
            )

    async def order_entries_after(self, order_id: uuid.UUID, sequence: int) -> list[TimelineEntry]:
        """One order's entries after ``sequence`` (a gap in what a feed heard of it)."""
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(order_id, with_timeline=True)
        return [] if order is None else [e for e in order.timeline if e.sequence > sequence]

    @staticmethod
    def _to(feed: FeedFilter) -> str | None:
        return None if feed.status is None else feed.status.value
