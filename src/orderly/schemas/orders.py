from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from orderly.models import OrderStatus, OrderView
from orderly.schemas.common import JsonInt, Pagination, RequestModel
from orderly.schemas.text import MultiLine

PaymentMethod = Annotated[
    str,
    Field(
        min_length=3,
        max_length=100,
        pattern=r"^[A-Za-z0-9_]+$",
        description="a payment-method token from the provider, e.g. pm_card_visa (sandbox)",
    ),
]


class OrderLineCreate(RequestModel):
    item_id: uuid.UUID
    quantity: Annotated[JsonInt, Field(ge=1, le=1_000_000)]


class OrderCreate(RequestModel):
    lines: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=1000)]
    payment_method: PaymentMethod | None = None


class OrderPay(RequestModel):
    payment_method: PaymentMethod | None = None


class OrderCancel(RequestModel):
    reason: (
        Annotated[
            str,
            Field(min_length=1, max_length=500, description="why; kept with the order's events"),
            MultiLine,
        ]
        | None
    ) = None


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: uuid.UUID
    quantity: int
    unit_price_minor: int


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    total_minor: int = Field(description="in minor units of the currency, computed by orderly")
    currency: str
    lines: list[OrderLineRead]
    created_at: datetime
    updated_at: datetime


def order_read_json(view: OrderView) -> dict[str, Any]:
    """``OrderRead`` of a read-model row as JSON-ready values, for a response rendered
    without validating the row again: it holds what the API returns, as written with the
    order (``tests/integration/test_order_views.py`` holds the two equal)."""
    return {
        "id": view.id,
        "user_id": view.user_id,
        "status": view.status,
        "total_minor": view.total_minor,
        "currency": view.currency,
        "lines": [
            {
                "item_id": line["item_id"],
                "quantity": line["quantity"],
                "unit_price_minor": line["unit_price_minor"],
            }
            for line in view.lines
        ],
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


class OrderFilters(Pagination):
    status: OrderStatus | None = None
    user_id: uuid.UUID | None = Field(default=None, description="admins only: one user's orders")


OrderFiltersQuery = Annotated[OrderFilters, Query()]
