"""Domain events: past-tense facts an entity records; written to the outbox with the change.

Every event of an order says who caused it (``Actor``), why (``reason``, when there is one),
and which status the order moved from and to, so that the outbox alone tells an order's story.
"""

from __future__ import annotations

import dataclasses
import re
import typing
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from types import UnionType
from typing import Any, ClassVar, Self


class ActorKind(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"
    SYSTEM = "system"  # the scheduler (expiry) or the application itself
    WORKER = "worker"  # a background job acting on an earlier event (paying, refunding)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a change; people have an id, the system and the workers do not."""

    kind: ActorKind
    id: uuid.UUID | None = None

    @classmethod
    def system(cls) -> Self:
        return cls(ActorKind.SYSTEM)

    @classmethod
    def worker(cls) -> Self:
        return cls(ActorKind.WORKER)

    def to_payload(self) -> dict[str, str | None]:
        return {"kind": self.kind.value, "id": str(self.id) if self.id else None}

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> Self:
        actor_id = raw.get("id")
        return cls(ActorKind(raw["kind"]), uuid.UUID(actor_id) if actor_id else None)


@dataclass(frozen=True, kw_only=True)
class Event:
    # Every handler of this event runs on this queue (payments, emails, reports).
    queue: ClassVar[str] = "default"

    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return type(self).__name__

    def to_payload(self) -> dict[str, Any]:
        return {item.name: _to_json(getattr(self, item.name)) for item in dataclasses.fields(self)}


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    queue: ClassVar[str] = "emails"
    user_id: uuid.UUID
    email: str
    full_name: str


@dataclass(frozen=True, kw_only=True)
class PasswordResetRequested(Event):
    """Someone asked for a reset link for this address, which may have no account: the
    handler looks it up, so the request answers alike for every address."""

    queue: ClassVar[str] = "emails"
    email: str


@dataclass(frozen=True, kw_only=True)
class EmailVerificationRequested(Event):
    """A signed-in user asked for a new verification link."""

    queue: ClassVar[str] = "emails"
    user_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class OrderEvent(Event):
    """Something that happened to one order, by ``actor``; ``to_status`` is its status after
    (unchanged for facts that move no status, such as a refund of an order already ended).
    ``sequence`` numbers the order's events 1, 2, 3, ... (its timeline position)."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    sequence: int
    actor: Actor
    reason: str | None = None
    from_status: str | None = None
    to_status: str

    @classmethod
    def public_name(cls) -> str:
        """The name clients see (timeline, webhooks): ``OrderPaid`` -> ``order.paid``."""
        words = re.findall(r"[A-Z][a-z]*", cls.__name__)
        return f"{words[0].lower()}.{'_'.join(word.lower() for word in words[1:])}"

    def details(self) -> dict[str, Any]:
        """What this kind of event adds to the common fields (references, amounts, ...)."""
        common = {item.name for item in dataclasses.fields(OrderEvent)}
        return {
            item.name: _to_json(getattr(self, item.name))
            for item in dataclasses.fields(self)
            if item.name not in common
        }


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(OrderEvent):
    queue: ClassVar[str] = "payments"


@dataclass(frozen=True, kw_only=True)
class OrderPaid(OrderEvent):
    queue: ClassVar[str] = "emails"
    payment_reference: str


@dataclass(frozen=True, kw_only=True)
class OrderPaymentFailed(OrderEvent):
    queue: ClassVar[str] = "emails"


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEvent):
    queue: ClassVar[str] = "emails"
    refunded: bool
    refund_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class OrderRefundRequested(OrderEvent):
    """The charge must be given back: a paid order is being cancelled, or a charge arrived
    after the order had ended. The refund is made by a worker, outside any transaction."""

    queue: ClassVar[str] = "payments"
    amount_minor: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class OrderRefunded(OrderEvent):
    queue: ClassVar[str] = "emails"
    amount_minor: int
    currency: str
    refund_reference: str


@dataclass(frozen=True, kw_only=True)
class OrderRefundFailed(OrderEvent):
    """The provider refused the refund; a cancellation goes back to ``paid`` (see reason)."""

    queue: ClassVar[str] = "emails"


@dataclass(frozen=True, kw_only=True)
class OrderFulfilled(OrderEvent):
    queue: ClassVar[str] = "emails"


@dataclass(frozen=True, kw_only=True)
class OrderExpired(OrderEvent):
    queue: ClassVar[str] = "emails"


@dataclass(frozen=True, kw_only=True)
class OrderNoteAdded(OrderEvent):
    """An administrator wrote a note on the order's timeline; the status does not change."""

    note: str


@dataclass(frozen=True, kw_only=True)
class SalesReportRequested(Event):
    queue: ClassVar[str] = "reports"
    report_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointDisabled(Event):
    """The sender gave up on a webhook endpoint (it answered 410 Gone, or kept failing);
    the administrators are told by mail."""

    queue: ClassVar[str] = "emails"
    endpoint_id: uuid.UUID
    url: str
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    kind.__name__: kind
    for kind in (
        UserRegistered,
        PasswordResetRequested,
        EmailVerificationRequested,
        OrderPlaced,
        OrderPaid,
        OrderPaymentFailed,
        OrderCancelled,
        OrderRefundRequested,
        OrderRefunded,
        OrderRefundFailed,
        OrderFulfilled,
        OrderExpired,
        OrderNoteAdded,
        SalesReportRequested,
        WebhookEndpointDisabled,
    )
}


def event_from_payload(event_type: str, payload: dict[str, Any]) -> Event:
    """Rebuild an event from its outbox payload (JSON types back to UUIDs, datetimes, actors).
    Rows written before order events carried an actor and a sequence are read as the
    system's doing, at position 0."""
    kind = EVENT_TYPES[event_type]
    hints = typing.get_type_hints(kind)
    names = {f.name for f in dataclasses.fields(kind)}
    values = {name: _from_json(hints[name], raw) for name, raw in payload.items() if name in names}
    if "actor" in names:
        values.setdefault("actor", Actor.system())
        values.setdefault("sequence", 0)
    return kind(**values)


def _to_json(value: object) -> object:
    if isinstance(value, Actor):
        return value.to_payload()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _from_json(hint: object, raw: Any) -> Any:
    if raw is None:
        return None
    wanted = {hint} if not isinstance(hint, UnionType) else set(typing.get_args(hint))
    if Actor in wanted and isinstance(raw, dict):
        return Actor.from_payload(raw)
    if uuid.UUID in wanted and isinstance(raw, str):
        return uuid.UUID(raw)
    if datetime in wanted and isinstance(raw, str):
        return datetime.fromisoformat(raw)
    return raw
