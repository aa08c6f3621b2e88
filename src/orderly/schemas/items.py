from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    computed_field,
)

from orderly.core.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR, validate_currency
from orderly.models import Availability, ItemFilter, ItemSort
from orderly.schemas.common import JsonInt, Pagination, RequestModel
from orderly.schemas.text import MultiLine, Omittable, SingleLine

Sku = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200), SingleLine]
Description = Annotated[str, Field(max_length=5000), MultiLine]
PriceMinor = Annotated[JsonInt, Field(ge=0, le=MAX_AMOUNT_MINOR, description="minor units")]
# The codes the shop accepts in any letter case, as a pattern JSON Schema can check.
CURRENCY_PATTERN = "^(?:{})$".format(
    "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(CURRENCY_EXPONENTS))
)
Currency = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        examples=["EUR"],
        json_schema_extra={"pattern": CURRENCY_PATTERN},
    ),
    AfterValidator(validate_currency),
]
PriceBound = Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)]
Stock = Annotated[JsonInt, Field(ge=0, le=10_000_000)]


class ItemCreate(RequestModel):
    sku: Sku
    name: Name
    description: Description = ""
    price_minor: PriceMinor
    currency: Currency
    stock: Stock = 0


class ItemUpdate(RequestModel):
    sku: Omittable[Sku] = None
    name: Omittable[Name] = None
    description: Omittable[Description] = None
    price_minor: Omittable[PriceMinor] = None
    currency: Omittable[Currency] = None
    stock: Omittable[Stock] = None
    is_active: Omittable[StrictBool] = None


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sku: str
    name: str
    description: str
    price_minor: int = Field(description="price in minor units of the currency (cents)")
    currency: str
    stock: int = Field(description="units on hand; in cached pages up to a few seconds old")
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @computed_field(  # type: ignore[prop-decorator]
        description="in_stock, low (5 or fewer) or sold_out: current in cached pages"
    )
    @property
    def availability(self) -> Availability:
        return Availability.of(self.stock)


class ItemCriteria(BaseModel):
    """The catalog search parameters both API versions accept."""

    q: (
        Annotated[str, Field(max_length=100, description="matches name or sku"), SingleLine] | None
    ) = None
    min_price: PriceBound | None = None
    max_price: PriceBound | None = None
    in_stock: bool = False
    sort: ItemSort = ItemSort.NAME

    def criteria(self) -> ItemFilter:
        return ItemFilter(
            q=self.q, min_price=self.min_price, max_price=self.max_price, in_stock=self.in_stock
        )


class ItemFilters(ItemCriteria, Pagination):
    pass


ItemFiltersQuery = Annotated[ItemFilters, Query()]
