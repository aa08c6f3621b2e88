"""What a live status stream sends, whatever carries it (SSE, WebSocket, GraphQL): a snapshot,
then the timeline entries after the client's last event id, then each change once, in order.

- ``OrderFeed``: one order. Ids are the order's timeline positions (1, 2, 3, ...).
- ``OrdersFeed``: every order of a user (or every order, for admins; optionally only changes
  to one status). Ids are feed positions (``services/live_status.FeedPosition``): each id is
  the highest position the client has been sent, so resuming after it repeats nothing.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from orderly.events.live import LiveChange
from orderly.models import Order, User
from orderly.models.timeline import TimelineEntry
from orderly.services.live_status import FeedFilter, FeedPosition, LiveStatusService

# An all-orders feed remembers the position of this many orders (the most recently changed)
# to drop duplicates and fill gaps; an order it forgot is simply passed through.
TRACKED_ORDERS = 10_000


@dataclass(frozen=True, slots=True)
class Outgoing:
    event: str  # "snapshot" or "change"
    id: str | None
    data: dict[str, Any]


class Feed(Protocol):
    """What a stream drives: ``open`` once (the snapshot, then what the client missed),
    ``on_change`` for each change its subscription wants, ``refresh`` after a ``Resync``."""

    async def open(self) -> list[Outgoing]: ...

    async def refresh(self) -> list[Outgoing]: ...

    async def on_change(self, change: LiveChange) -> list[Outgoing]: ...


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


class OrderFeed:
    """One client's view of one order: never sends a position twice or out of order; a gap
    (a change missed or overtaken) is filled from the timeline."""

    def __init__(
        self, *, live: LiveStatusService, user: User, order_id: uuid.UUID, after: int | None
    ) -> None:
        self._live = live
        self._user = user
        self.order_id = order_id
        self._after = after
        self.last = after or 0  # the highest position the client has

    async def open(self) -> list[Outgoing]:
        """The snapshot, then (resuming) every entry after the client's last event id.
        ``OrderNotFound`` when the order is not there or not the user's."""
        order = await self._live.order(actor=self._user, order_id=self.order_id)
        return self._opening(order, after=self._after)

    async def refresh(self) -> list[Outgoing]:
        """A fresh snapshot and what the client missed (after the listener reconnected)."""
        order = await self._live.order(actor=self._user, order_id=self.order_id)
        return self._opening(order, after=self.last)

    async def on_change(self, change: LiveChange) -> list[Outgoing]:
        if change.sequence <= self.last:
            return []
        if change.sequence == self.last + 1:
            self.last = change.sequence
            return [self._change(change)]
        entries = await self._live.order_entries_after(self.order_id, self.last)
        self.last = max([self.last, *(e.sequence for e in entries)])
        return [self._change(change_of(e)) for e in entries]

    def _opening(self, order: Order, *, after: int | None) -> list[Outgoing]:
        opening = [Outgoing("snapshot", str(order.timeline_position), snapshot_of(order))]
        if after is not None:
            opening += [self._change(change_of(e)) for e in order.timeline if e.sequence > after]
        self.last = max(self.last, order.timeline_position)
        return opening

    @staticmethod
    def _change(change: LiveChange) -> Outgoing:
        return Outgoing("change", str(change.sequence), change.public())


class OrdersFeed:
    """One client's view of many orders. The snapshot lists the newest orders of the feed (at
    most the service's snapshot limit) with their positions; a change at or below an order's
    known position is a duplicate and dropped, a gap in one order is filled from its timeline
    (feeds without a status filter: a filtered feed skips the other steps by design)."""

    def __init__(
        self, *, live: LiveStatusService, feed: FeedFilter, after: FeedPosition | None
    ) -> None:
        self._live = live
        self._feed = feed
        self._after = after
        self.last = after  # the highest feed position the client has been sent
        self._known: OrderedDict[uuid.UUID, int] = OrderedDict()

    async def open(self) -> list[Outgoing]:
        return await self._opening(after=self._after)

    async def refresh(self) -> list[Outgoing]:
        return await self._opening(after=self.last)

    async def on_change(self, change: LiveChange) -> list[Outgoing]:
        known = self._known.get(change.order_id)
        if known is not None and change.sequence <= known:
            return []
        if known is None or change.sequence == known + 1 or self._feed.status is not None:
            return [self._send(change)]
        entries = await self._live.order_entries_after(change.order_id, known)
        return [self._send(change_of(e)) for e in entries]

    async def _opening(self, *, after: FeedPosition | None) -> list[Outgoing]:
        snapshot = await self._live.feed_snapshot(self._feed)
        self._advance(snapshot.latest)
        for order in reversed(snapshot.orders):  # the newest stay tracked longest
            self._remember(order.id, order.timeline_position)
        data = {"orders": [snapshot_of(o) for o in snapshot.orders], "total": snapshot.total}
        opening = [Outgoing("snapshot", self._id(), data)]
        if after is not None:
            for entry in await self._live.feed_since(self._feed, after):
                self._advance(FeedPosition.of(entry))
                self._remember(entry.order_id, entry.sequence)
                opening.append(Outgoing("change", self._id(), change_of(entry).public()))
        return opening

    def _send(self, change: LiveChange) -> Outgoing:
        self._remember(change.order_id, change.sequence)
        occurred_at = datetime.fromisoformat(change.occurred_at)
        self._advance(FeedPosition(occurred_at, change.order_id, change.sequence))
        return Outgoing("change", self._id(), change.public())

    def _advance(self, position: FeedPosition | None) -> None:
        if position is not None and (self.last is None or position > self.last):
            self.last = position

    def _id(self) -> str | None:
        return None if self.last is None else str(self.last)

    def _remember(self, order_id: uuid.UUID, sequence: int) -> None:
        self._known[order_id] = max(sequence, self._known.get(order_id, 0))
        self._known.move_to_end(order_id)
        if len(self._known) > TRACKED_ORDERS:
            self._known.popitem(last=False)
