"""The orders' read model (CQRS): one row per order holding what the read API shows.

Written by the unit of work in the same transaction as every change to the order (see
``orderly.projections.orders``), so a reader sees exactly what committed, never older; the
API's order lists and single orders read this table, one row per order, without joins.
Rebuilt from the write tables by ``orderly projections rebuild``.

A plain table, not an entity: nothing loads it into a session or changes it in place.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol, TypedDict

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from orderly.models.base import Base, UTCDateTime

# JSONB on PostgreSQL (binary, indexable), JSON text elsewhere.
LinesJSON = JSON().with_variant(JSONB(), "postgresql")

order_views = Table(
    "order_views",
    Base.metadata,
    Column("order_id", Uuid(), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Uuid(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("total_minor", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    # [{"item_id", "name", "quantity", "unit_price_minor"}, ...] in the order's line order
    Column("lines", LinesJSON, nullable=False),
    # The order's last timeline entry (none only for an order written without Order.place).
    Column("last_step_type", String(50)),
    Column("last_step_sequence", Integer()),
    Column("last_step_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # A customer's list and everyone's list, newest first (ties by id).
    Index("ix_order_views_user_id_created_at", "user_id", "created_at", "order_id"),
    Index("ix_order_views_created_at", "created_at", "order_id"),
)


class LineView(TypedDict):
    """One line as the read model keeps it: JSON, so the item id is a string."""

    item_id: str
    name: str | None  # the item's name when the order was placed (None: not known then)
    quantity: int
    unit_price_minor: int


class OrderView(Protocol):
    """A row of ``order_views`` as the read side gets it (``order_id`` read as ``id``)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> str: ...
    @property
    def total_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def lines(self) -> list[LineView]: ...
    @property
    def last_step_type(self) -> str | None: ...
    @property
    def last_step_sequence(self) -> int | None: ...
    @property
    def last_step_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
