"""API v2 representations: money as a decimal string with its currency, cursor pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from orderly.core.money import to_major
from orderly.models import Availability, ItemView, OrderStatus, OrderView, TimelineEntry
from orderly.schemas.common import MAX_PAGE_SIZE
from orderly.schemas.items import ItemCriteria
from orderly.schemas.timeline import TimelineEntryRead

T = TypeVar("T")


class Money(BaseModel):
    amount: str = Field(examples=["12.34"], description="exact decimal, as a string")
    currency: str = Field(examples=["EUR"])

    @classmethod
    def of(cls, amount_minor: int, currency: str) -> Money:
        return cls(amount=str(to_major(amount_minor, currency)), currency=currency)


class CursorPage(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="URL of the next page; null on the last one")


class CursorQuery(BaseModel):
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 20
    cursor: Annotated[str, Field(max_length=512)] | None = None


class ItemBrowse(ItemCriteria, CursorQuery):
    pass


class OrderBrowse(CursorQuery):
    status: OrderStatus | None = None
    user_id: uuid.UUID | None = Field(default=None, description="admins only")


ItemBrowseQuery = Annotated[ItemBrowse, Query()]
OrderBrowseQuery = Annotated[OrderBrowse, Query()]


class ItemReadV2(BaseModel):
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price: Money
    stock: int = Field(description="units on hand; in cached pages up to a few seconds old")
    availability: Availability = Field(description="current in cached pages")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: ItemView) -> ItemReadV2:
        return cls(
            id=item.id,
            sku=item.sku,
            name=item.name,
            description=item.description,
            price=Money.of(item.price_minor, item.currency),
            stock=item.stock,
            availability=Availability.of(item.stock),
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


class OrderLineReadV2(BaseModel):
    item_id: uuid.UUID
    quantity: int
    unit_price: Money


class OrderReadV2(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    total: Money
    lines: list[OrderLineReadV2]
    timeline: list[TimelineEntryRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: OrderView, timeline: list[TimelineEntry]) -> OrderReadV2:
        """The order from the read model, with its timeline."""
        return cls(
            id=order.id,
            user_id=order.user_id,
            status=OrderStatus(order.status),
            total=Money.of(order.total_minor, order.currency),
            lines=[
                OrderLineReadV2(
                    item_id=uuid.UUID(line["item_id"]),
                    quantity=line["quantity"],
                    unit_price=Money.of(line["unit_price_minor"], order.currency),
                )
                for line in order.lines
            ],
            timeline=[TimelineEntryRead.of(entry) for entry in timeline],
            created_at=order.created_at,
            updated_at=order.updated_at,
        )
