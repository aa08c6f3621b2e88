"""Queries on orders and their lines. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from orderly.models import Order, OrderStatus
from orderly.models.timeline import TimelineEntry
from orderly.repositories.paging import first_rows, newest_first, page_with_total

# Built once, executed with bound values (see repositories/items.py).
_WITH_LINES = selectinload(Order.lines)
# Pages join the lines in (SQLAlchemy wraps the limited page in a subquery): one query
# instead of selectinload's second. Single rows keep selectinload: FOR UPDATE cannot lock
# the nullable side of an outer join.
_PAGE_WITH_LINES = joinedload(Order.lines)
_WITHOUT_LINES = select(Order).where(Order.id == bindparam("order_id"))
_BY_ID = _WITHOUT_LINES.options(_WITH_LINES)
_BY_ID_WITH_TIMELINE = _BY_ID.options(selectinload(Order.timeline))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
_WITHOUT_LINES_FOR_UPDATE = _WITHOUT_LINES.with_for_update()
_ORDERS = Order.__table__
_ID_BY_KEY = select(_ORDERS.c.id).where(
    _ORDERS.c.user_id == bindparam("user_id"), _ORDERS.c.idempotency_key == bindparam("key")
)


@lru_cache(maxsize=16)
def _listing(
    *, by_user: bool, by_status: bool, keyset: bool, with_timeline: bool = False
) -> Select[Order]:
    """Orders, newest first, optionally one user's and / or in one status, with their lines
    (and their timelines)."""
    conditions: list[ColumnElement[bool]] = []
    if by_user:
        conditions.append(Order.user_id == bindparam("user_id"))
    if by_status:
        conditions.append(Order.status == bindparam("status", type_=Order.status.type))
    resume, order = newest_first(Order.created_at, Order.id, keyset=keyset)
    listing = select(Order).where(*conditions, *resume).options(_PAGE_WITH_LINES).order_by(*order)
    return listing.options(selectinload(Order.timeline)) if with_timeline else listing


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, order: Order) -> None:
        """A new order with its lines; written when the unit of work commits."""
        self._session.add(order)

    async def get(self, order_id: uuid.UUID, *, with_timeline: bool = False) -> Order | None:
        """The order with its lines (and its timeline)."""
        statement = _BY_ID_WITH_TIMELINE if with_timeline else _BY_ID
        return (await self._session.scalars(statement, {"order_id": order_id})).one_or_none()

    async def get_for_update(self, order_id: uuid.UUID, *, with_lines: bool = True) -> Order | None:
        """The order, its row locked (PostgreSQL) until the transaction ends, for a
        transition. ``with_lines=False`` skips loading the lines for a use case that never
        reads them (paying: reading ``lines`` then raises instead of querying)."""
        statement = _BY_ID_FOR_UPDATE if with_lines else _WITHOUT_LINES_FOR_UPDATE
        return (await self._session.scalars(statement, {"order_id": order_id})).one_or_none()

    async def get_by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None:
        """The order placed earlier with this key, if any. Almost every key is new, so the
        lookup reads only the id (a plain row, no entity loading); the order is loaded only
        when there is one."""
        params = {"user_id": user_id, "key": key}
        order_id = (await self._session.execute(_ID_BY_KEY, params)).scalar_one_or_none()
        return None if order_id is None else await self.get(order_id)

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
    ) -> tuple[list[Order], int]:
        matching = _listing(by_user=user_id is not None, by_status=status is not None, keyset=False)
        params = {"user_id": user_id, "status": status}
        return await page_with_total(
            self._session, matching, limit=limit, offset=offset, params=params
        )

    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
        with_timeline: bool = False,
    ) -> list[Order]:
        """Keyset pagination, newest first: the ``limit`` orders older than ``after``."""
        page = first_rows(
            _listing(
                by_user=user_id is not None,
                by_status=status is not None,
                keyset=after is not None,
                with_timeline=with_timeline,
            )
        )
        params: dict[str, Any] = {"user_id": user_id, "status": status, "limit": limit}
        if after is not None:
            params["after_created"], params["after_id"] = after
        # unique(): the joined lines repeat each order once per line
        return list((await self._session.scalars(page, params)).unique())

    async def pending_ids_before(self, cutoff: datetime, *, limit: int) -> list[uuid.UUID]:
        """Orders still waiting for payment that were placed before ``cutoff``."""
        statement = (
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.created_at < cutoff)
            .order_by(Order.created_at)
            .limit(limit)
        )
        return list(await self._session.scalars(statement))

    async def paid_between(self, start: datetime, end: datetime) -> list[Order]:
        """Orders paid or fulfilled that were placed in [start, end), with their lines."""
        statement = (
            select(Order)
            .where(
                Order.status.in_([OrderStatus.PAID, OrderStatus.FULFILLED]),
                Order.created_at >= start,
                Order.created_at < end,
            )
            .options(selectinload(Order.lines))
            .order_by(Order.created_at)
        )
        return list(await self._session.scalars(statement))

    async def feed_entries(
        self,
        *,
        user_id: uuid.UUID | None,
        to_status: str | None,
        after: tuple[datetime, uuid.UUID, int] | None,
        limit: int,
        newest_first: bool = False,
    ) -> list[TimelineEntry]:
        """Timeline entries of every order (or one user's), optionally only those moving to
        ``to_status``, in (occurred_at, order_id, sequence) order after ``after``; or, with
        ``newest_first``, the latest ones."""
        entry = TimelineEntry
        statement = select(entry)
        if user_id is not None:
            statement = statement.join(Order, Order.id == entry.order_id).where(
                Order.user_id == user_id
            )
        if to_status is not None:
            statement = statement.where(entry.to_status == to_status)
        key = (entry.occurred_at, entry.order_id, entry.sequence)
        if after is not None:  # a row comparison: the index on the position serves it
            statement = statement.where(tuple_(*key) > after)
        ordering = [column.desc() for column in key] if newest_first else list(key)
        statement = statement.order_by(*ordering).limit(limit)
        return list(await self._session.scalars(statement))
