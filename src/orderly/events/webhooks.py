"""The events a webhook endpoint can subscribe to, by the names receivers see, and what a
receiver gets for each: ``{"type": "order.paid", "timestamp": ..., "data": {...}}``.

The one mapping from event classes to wire names is ``WEBHOOK_EVENTS``; ``data`` is the event's
public fields (the event id and time travel in the headers and the envelope instead).
"""

from __future__ import annotations

import json
from typing import Any

from orderly.events.types import (
    Event,
    OrderCancelled,
    OrderExpired,
    OrderFulfilled,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderRefunded,
    OrderRefundFailed,
    OrderRefundRequested,
    UserRegistered,
)

WEBHOOK_EVENTS: dict[str, type[Event]] = {
    **{
        kind.public_name(): kind
        for kind in (
            OrderPlaced,
            OrderPaid,
            OrderPaymentFailed,
            OrderCancelled,
            OrderRefundRequested,
            OrderRefunded,
            OrderRefundFailed,
            OrderFulfilled,
            OrderExpired,
        )
    },
    "user.registered": UserRegistered,
}
_NAMES = {kind: name for name, kind in WEBHOOK_EVENTS.items()}
# In the envelope (timestamp) and the headers (webhook-id) rather than in ``data``.
ENVELOPE_FIELDS = frozenset({"event_id", "occurred_at"})


def webhook_type(event: Event) -> str | None:
    """The wire name of the event, or None when no endpoint can subscribe to it."""
    return _NAMES.get(type(event))


def webhook_body(event: Event) -> str:
    """The JSON text sent (and signed) for the event; stored once, so every attempt and every
    replay sends exactly the same bytes."""
    name = webhook_type(event)
    if name is None:
        raise ValueError(f"{event.name} is not sent to webhooks")
    data = {k: v for k, v in event.to_payload().items() if k not in ENVELOPE_FIELDS}
    envelope: dict[str, Any] = {
        "type": name,
        "timestamp": event.occurred_at.isoformat(),
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
