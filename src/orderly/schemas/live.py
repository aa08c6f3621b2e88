"""The messages a WebSocket client sends to ``/api/v1/ws`` (see ``api/live_ws.py``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from orderly.models import OrderStatus
from orderly.schemas.common import RequestModel

ORDERS_TOPIC = "orders"
ORDER_TOPIC_PREFIX = "order:"
Topic = Annotated[str, Field(pattern=r"^(orders|order:[0-9a-fA-F-]{32,36})$")]


class Authenticate(RequestModel):
    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class Subscribe(RequestModel):
    type: Literal["subscribe"]
    topic: Topic
    last_event_id: Annotated[str | None, Field(max_length=80)] = None
    # topic "orders" only:
    status: OrderStatus | None = None
    user_id: uuid.UUID | None = None


class Unsubscribe(RequestModel):
    type: Literal["unsubscribe"]
    topic: Topic


class Ping(RequestModel):
    type: Literal["ping"]


ClientMessage = Annotated[
    Authenticate | Subscribe | Unsubscribe | Ping, Field(discriminator="type")
]
CLIENT_MESSAGE: TypeAdapter[Authenticate | Subscribe | Unsubscribe | Ping] = TypeAdapter(
    ClientMessage
)


def order_topic(order_id: uuid.UUID) -> str:
    return f"{ORDER_TOPIC_PREFIX}{order_id}"
