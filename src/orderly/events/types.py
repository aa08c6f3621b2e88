"""Domain events: past-tense facts a service records; written to the outbox with the change."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar


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
        payload: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, uuid.UUID | datetime | date):
                value = str(value) if isinstance(value, uuid.UUID) else value.isoformat()
            payload[item.name] = value
        return payload


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    queue: ClassVar[str] = "emails"
    user_id: uuid.UUID
    email: str
    full_name: str


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    queue: ClassVar[str] = "payments"
    order_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class OrderPaid(Event):
    queue: ClassVar[str] = "emails"
    order_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class OrderPaymentFailed(Event):
    queue: ClassVar[str] = "emails"
    order_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    order_id: uuid.UUID
    user_id: uuid.UUID
    refunded: bool


@dataclass(frozen=True, kw_only=True)
class OrderFulfilled(Event):
    order_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class OrderExpired(Event):
    order_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class SalesReportRequested(Event):
    queue: ClassVar[str] = "reports"
    report_id: uuid.UUID


EVENT_TYPES: dict[str, type[Event]] = {
    kind.__name__: kind
    for kind in (
        UserRegistered,
        OrderPlaced,
        OrderPaid,
        OrderPaymentFailed,
        OrderCancelled,
        OrderFulfilled,
        OrderExpired,
        SalesReportRequested,
    )
}


def event_from_payload(event_type: str, payload: dict[str, Any]) -> Event:
    """Rebuild an event from its outbox payload (JSON types back to UUIDs and datetimes)."""
    kind = EVENT_TYPES[event_type]
    hints = {f.name: f.type for f in dataclasses.fields(kind)}
    values: dict[str, Any] = {}
    for name, raw in payload.items():
        if name not in hints:
            continue
        hint = str(hints[name])
        if "UUID" in hint and isinstance(raw, str):
            values[name] = uuid.UUID(raw)
        elif "datetime" in hint and isinstance(raw, str):
            values[name] = datetime.fromisoformat(raw)
        else:
            values[name] = raw
    return kind(**values)
