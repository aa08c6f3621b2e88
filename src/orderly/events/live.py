"""Live order status: the changes of orders, fanned out to the streams open in this process.

A change reaches ``LiveHub.publish`` after its transaction committed: from the outbox handler
(in-process mode) or from the Redis listener (``events/live_redis.py``). Each stream owns a
``Subscription`` with a bounded queue; a client too slow to drain it is dropped with a reason
(it resumes with Last-Event-ID), so one slow reader never holds memory or the others back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from orderly.core.errors import TooManyRequests
from orderly.events.types import OrderEvent

OPEN_STREAMS = Gauge(
    "orderly_live_streams_open", "Live status streams open", ["kind"], multiprocess_mode="livesum"
)
MESSAGES_SENT = MetricCounter(
    "orderly_live_messages_sent_total", "Live status messages sent to clients", ["kind"]
)
CLIENTS_DROPPED = MetricCounter(
    "orderly_live_clients_dropped_total", "Live streams closed by the server", ["reason"]
)
LISTENER_RECONNECTS = MetricCounter(
    "orderly_live_listener_reconnects_total", "Times the Redis listener reconnected"
)


class TooManyStreams(TooManyRequests):
    code = "too-many-streams"


@dataclass(frozen=True, slots=True)
class LiveChange:
    """One committed step of one order: what a client is told (no reason, no amounts)."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    sequence: int
    type: str
    from_status: str | None
    to_status: str
    actor_kind: str
    occurred_at: str

    @classmethod
    def of(cls, event: OrderEvent) -> LiveChange:
        return cls(
            order_id=event.order_id,
            user_id=event.user_id,
            sequence=event.sequence,
            type=event.public_name(),
            from_status=event.from_status,
            to_status=event.to_status,
            actor_kind=event.actor.kind.value,
            occurred_at=event.occurred_at.isoformat(),
        )

    def public(self) -> dict[str, Any]:
        values = asdict(self)
        values["order_id"] = str(self.order_id)
        del values["user_id"]
        return values

    def dumps(self) -> str:
        return json.dumps({**self.public(), "user_id": str(self.user_id)})

    @classmethod
    def loads(cls, raw: str | bytes) -> LiveChange:
        values = json.loads(raw)
        values["order_id"] = uuid.UUID(values["order_id"])
        values["user_id"] = uuid.UUID(values["user_id"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Resync:
    """Changes may have been missed (the listener reconnected): send a fresh snapshot."""


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str  # "slow-client" or "shutting-down"


Message = LiveChange | Resync | Closed


class Subscription:
    """One stream's interest: one order, or (``order_id`` None) every order of ``owner``
    (None: every order, for admins), optionally only those moving to ``statuses``."""

    def __init__(
        self,
        *,
        user_id: uuid.UUID,
        kind: str,
        order_id: uuid.UUID | None,
        owner: uuid.UUID | None,
        statuses: frozenset[str],
        size: int,
    ) -> None:
        self.user_id = user_id
        self.kind = kind
        self.order_id = order_id
        self.owner = owner
        self.statuses = statuses
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=size)
        self.closed: str | None = None

    def wants(self, change: LiveChange) -> bool:
        if self.order_id is not None:
            return change.order_id == self.order_id
        if self.owner is not None and change.user_id != self.owner:
            return False
        return not self.statuses or change.to_status in self.statuses

    def close(self, reason: str) -> None:
        """Tell the stream to end; a full queue loses its oldest entry to make room."""
        if self.closed is not None:
            return
        self.closed = reason
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(Closed(reason))
        CLIENTS_DROPPED.labels(reason).inc()


class LiveHub:
    def __init__(self, *, queue_size: int, max_per_user: int, max_connections: int) -> None:
        self._queue_size = queue_size
        self._max_per_user = max_per_user
        self._max_connections = max_connections
        self._subscriptions: set[Subscription] = set()
        self._per_user: Counter[uuid.UUID] = Counter()
        self.closing = False

    def __len__(self) -> int:
        return len(self._subscriptions)

    def subscribe(
        self,
        *,
        user_id: uuid.UUID,
        kind: str,
        order_id: uuid.UUID | None = None,
        owner: uuid.UUID | None = None,
        statuses: frozenset[str] = frozenset(),
    ) -> Subscription:
        if self.closing:
            raise TooManyStreams("The server is shutting down", retry_after=1, limit=0, remaining=0)
        if len(self._subscriptions) >= self._max_connections:
            raise TooManyStreams(
                "This server has too many open streams; retry shortly",
                retry_after=5,
                limit=self._max_connections,
                remaining=0,
            )
        if self._per_user[user_id] >= self._max_per_user:
            raise TooManyStreams(
                f"At most {self._max_per_user} open streams per user; close one first",
                retry_after=5,
                limit=self._max_per_user,
                remaining=0,
            )
        subscription = Subscription(
            user_id=user_id,
            kind=kind,
            order_id=order_id,
            owner=owner,
            statuses=statuses,
            size=self._queue_size,
        )
        self._subscriptions.add(subscription)
        self._per_user[user_id] += 1
        OPEN_STREAMS.labels(kind).inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self._subscriptions:
            return
        self._subscriptions.discard(subscription)
        self._per_user[subscription.user_id] -= 1
        if self._per_user[subscription.user_id] <= 0:
            del self._per_user[subscription.user_id]
        OPEN_STREAMS.labels(subscription.kind).dec()

    def publish(self, change: LiveChange) -> None:
        """Queue the change for every stream that wants it, in the order published."""
        for subscription in list(self._subscriptions):
            if subscription.closed is None and subscription.wants(change):
                self._offer(subscription, change)

    def resync(self) -> None:
        """After a gap in what this process heard: every stream sends a fresh snapshot."""
        for subscription in list(self._subscriptions):
            if subscription.closed is None:
                self._offer(subscription, Resync())

    def close_all(self, reason: str = "shutting-down") -> None:
        self.closing = True
        for subscription in list(self._subscriptions):
            subscription.close(reason)

    @staticmethod
    def _offer(subscription: Subscription, message: Message) -> None:
        try:
            subscription.queue.put_nowait(message)
        except asyncio.QueueFull:
            subscription.close("slow-client")
