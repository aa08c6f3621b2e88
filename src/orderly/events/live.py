"""Live order status: the changes of orders, fanned out to the clients connected to this process.

A change reaches ``LiveHub.publish`` after its transaction committed: from the outbox handler
(in-process mode) or from the Redis listener (``events/live_redis.py``).

The hub's public API (used by the SSE and WebSocket endpoints, and meant for any other
transport, e.g. GraphQL subscriptions):

- ``hub.connect(user_id=..., transport="sse"|"ws"|...)`` -> ``Connection``: takes one of the
  limited slots (``max_per_user`` per user, ``max_connections`` per process; ``TooManyStreams``
  otherwise). One slot per client connection, however many subscriptions it holds.
- ``connection.watch_order(order_id)`` / ``connection.watch_orders(owner=..., statuses=...)``
  -> ``Subscription``; ``connection.unwatch(subscription)``. Watch before reading the
  snapshot, so no change can fall between the two. Visibility is the caller's job: check
  the order is the user's (``OrderService.get_order``) and pass ``owner=user.id`` for
  customers (``None``: every order, admins only).
- ``await connection.next()`` -> ``Delivery`` (the subscription and its change), ``Resync``
  (changes may have been missed: send a fresh snapshot) or ``Closed`` (end the stream with
  its reason; it is the last message).
- ``hub.disconnect(connection)``: frees the slot (idempotent; call it in a ``finally``).
- ``with hub.handshake():`` around a transport's authentication (the WebSocket waits for its
  first message): a client not signed in yet takes a slot of ``max_connections`` too, so
  unauthenticated sockets cannot pile up beyond the process's limit.
- Snapshots and resumable positions: ``api/live_feeds.py`` (``OrderFeed``, ``OrdersFeed``).

Each connection owns one bounded queue; a client too slow to drain it is dropped with the
reason ``slow-client`` (it resumes with its last event id), so one slow reader never holds
memory or the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from orderly.core.errors import TooManyRequests
from orderly.events.types import OrderEvent

OPEN_CONNECTIONS = Gauge(
    "orderly_live_connections_open",
    "Live status client connections open (each holds one slot of the limits)",
    ["transport"],
    multiprocess_mode="livesum",
)
OPEN_STREAMS = Gauge(
    "orderly_live_streams_open",
    "Live status subscriptions open: scope order (one order) or orders (the all-orders feed)",
    ["transport", "scope"],
    multiprocess_mode="livesum",
)
MESSAGES_SENT = MetricCounter(
    "orderly_live_messages_sent_total", "Live status messages sent to clients", ["transport"]
)
CLIENTS_DROPPED = MetricCounter(
    "orderly_live_clients_dropped_total",
    "Live connections closed by the server, by reason",
    ["transport", "reason"],
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


class Subscription:
    """One interest of a connection: one order, or (``order_id`` None) every order of
    ``owner`` (None: every order, for admins), optionally only changes moving to ``statuses``."""

    def __init__(
        self,
        *,
        order_id: uuid.UUID | None,
        owner: uuid.UUID | None,
        statuses: frozenset[str],
    ) -> None:
        self.order_id = order_id
        self.owner = owner
        self.statuses = statuses

    @property
    def scope(self) -> str:
        return "order" if self.order_id is not None else "orders"

    def wants(self, change: LiveChange) -> bool:
        if self.order_id is not None:
            return change.order_id == self.order_id
        if self.owner is not None and change.user_id != self.owner:
            return False
        return not self.statuses or change.to_status in self.statuses


@dataclass(frozen=True, slots=True)
class Delivery:
    subscription: Subscription
    change: LiveChange


Message = Delivery | Resync | Closed


class Connection:
    """One client connection: its subscriptions and its bounded queue."""

    def __init__(self, *, user_id: uuid.UUID, transport: str, size: int) -> None:
        self.user_id = user_id
        self.transport = transport
        self.subscriptions: list[Subscription] = []
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=size)
        self.closed: str | None = None

    def watch_order(self, order_id: uuid.UUID) -> Subscription:
        return self._watch(Subscription(order_id=order_id, owner=None, statuses=frozenset()))

    def watch_orders(
        self, *, owner: uuid.UUID | None, statuses: frozenset[str] = frozenset()
    ) -> Subscription:
        return self._watch(Subscription(order_id=None, owner=owner, statuses=statuses))

    def unwatch(self, subscription: Subscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)
            OPEN_STREAMS.labels(self.transport, subscription.scope).dec()

    async def next(self) -> Message:
        return await self.queue.get()

    def close(self, reason: str) -> None:
        """Tell the client's stream to end; a full queue loses its oldest entry to make room."""
        if self.closed is not None:
            return
        self.closed = reason
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(Closed(reason))
        CLIENTS_DROPPED.labels(self.transport, reason).inc()

    def offer(self, message: Message) -> None:
        if self.closed is not None:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.close("slow-client")

    def _watch(self, subscription: Subscription) -> Subscription:
        self.subscriptions.append(subscription)
        OPEN_STREAMS.labels(self.transport, subscription.scope).inc()
        return subscription


class LiveHub:
    def __init__(self, *, queue_size: int, max_per_user: int, max_connections: int) -> None:
        self._queue_size = queue_size
        self._max_per_user = max_per_user
        self._max_connections = max_connections
        self._connections: set[Connection] = set()
        self._per_user: Counter[uuid.UUID] = Counter()
        self._handshakes = 0
        self.closing = False

    def __len__(self) -> int:
        return len(self._connections)

    def _check_room(self) -> None:
        if self.closing:
            raise TooManyStreams("The server is shutting down", retry_after=1, limit=0, remaining=0)
        if len(self._connections) + self._handshakes >= self._max_connections:
            raise TooManyStreams(
                "This server has too many open streams; retry shortly",
                retry_after=5,
                limit=self._max_connections,
                remaining=0,
            )

    @contextlib.contextmanager
    def handshake(self) -> Iterator[None]:
        """A slot held while a client authenticates (``TooManyStreams`` when none is free)."""
        self._check_room()
        self._handshakes += 1
        try:
            yield
        finally:
            self._handshakes -= 1

    def connect(self, *, user_id: uuid.UUID, transport: str) -> Connection:
        self._check_room()
        if self._per_user[user_id] >= self._max_per_user:
            raise TooManyStreams(
                f"At most {self._max_per_user} open streams per user; close one first",
                retry_after=5,
                limit=self._max_per_user,
                remaining=0,
            )
        connection = Connection(user_id=user_id, transport=transport, size=self._queue_size)
        self._connections.add(connection)
        self._per_user[user_id] += 1
        OPEN_CONNECTIONS.labels(transport).inc()
        return connection

    def disconnect(self, connection: Connection) -> None:
        if connection not in self._connections:
            return
        for subscription in list(connection.subscriptions):
            connection.unwatch(subscription)
        self._connections.discard(connection)
        self._per_user[connection.user_id] -= 1
        if self._per_user[connection.user_id] <= 0:
            del self._per_user[connection.user_id]
        OPEN_CONNECTIONS.labels(connection.transport).dec()

    def publish(self, change: LiveChange) -> None:
        """Queue the change for every subscription that wants it, in the order published."""
        for connection in list(self._connections):
            for subscription in connection.subscriptions:
                if subscription.wants(change):
                    connection.offer(Delivery(subscription, change))

    def resync(self) -> None:
        """After a gap in what this process heard: every connection sends fresh snapshots."""
        for connection in list(self._connections):
            connection.offer(Resync())

    def close_all(self, reason: str = "shutting-down") -> None:
        """Refuse new connections and end every open one (graceful shutdown)."""
        self.closing = True
        for connection in list(self._connections):
            connection.close(reason)
