"""A catalog item: price in integer minor units, stock that can never go below zero."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import BigInteger, CheckConstraint, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.models.base import Base, Timestamped


class ItemView(Protocol):
    """An item as the catalog's read side shows it: an ``Item``, or a plain database row with
    the same names (public pages are read as rows: no identity map, no instance state)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def price_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def stock(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


# At or below this many, the catalog says "low" (see Availability).
LOW_STOCK = 5


class Availability(StrEnum):
    """What the public catalog says about stock. It changes only when stock crosses a level,
    and every such crossing advances the catalog version (cached pages are dropped), so a
    cached page's availability is current; its exact ``stock`` figure may lag (README)."""

    IN_STOCK = "in_stock"
    LOW = "low"
    SOLD_OUT = "sold_out"

    @classmethod
    def of(cls, stock: int) -> Availability:
        if stock <= 0:
            return cls.SOLD_OUT
        return cls.LOW if stock <= LOW_STOCK else cls.IN_STOCK


class Item(Timestamped, Base):
    __tablename__ = "items"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
        CheckConstraint("length(currency) = 3", name="currency_iso_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_minor: Mapped[int] = mapped_column(BigInteger, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True, index=True)

    @staticmethod
    def normalize_sku(sku: str) -> str:
        return sku.strip().upper()

    def deactivate(self) -> None:
        """Soft delete: gone from the public catalog, kept for orders that refer to it."""
        self.is_active = False


class ItemSort(StrEnum):
    """Public sort keys for the catalog; a leading '-' sorts descending."""

    NAME = "name"
    NAME_DESC = "-name"
    PRICE = "price"
    PRICE_DESC = "-price"
    CREATED = "created"
    CREATED_DESC = "-created"


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """What a catalog search asks for: text in name or sku, a price range, in stock only."""

    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
