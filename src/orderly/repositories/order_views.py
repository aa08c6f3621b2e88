"""Queries on the orders' read model (``order_views``): pages and single orders as plain
rows, one row per order, no joins. Never commits; the rows are written by the unit of work
(``orderly.projections.orders``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import OrderStatus, OrderView, TimelineEntry, order_views
from orderly.repositories.paging import first_rows, newest_first, page_with_total

_VIEWS = order_views.c
# The key read as ``id``, as the API names it.
_COLUMNS = [_VIEWS.order_id.label("id"), *(c for c in order_views.c if c is not _VIEWS.order_id)]
_BY_ID = select(*_COLUMNS).where(_VIEWS.order_id == bindparam("order_id"))
_TIMELINES = (
    select(TimelineEntry)
    .where(TimelineEntry.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(TimelineEntry.order_id, TimelineEntry.sequence)
)


@lru_cache(maxsize=16)
def _listing(*, by_user: bool, by_status: bool, keyset: bool) -> Select[Any]:
    """Orders, newest first (ties by id: ascending for offset pages, descending for keyset
    pages, as the write model's listings), optionally one user's and / or in one status."""
    conditions: list[ColumnElement[bool]] = []
    if by_user:
        conditions.append(_VIEWS.user_id == bindparam("user_id"))
    if by_status:
        conditions.append(_VIEWS.status == bindparam("status"))
    resume, order = newest_first(_VIEWS.created_at, _VIEWS.order_id, keyset=keyset)
    return select(*_COLUMNS).where(*conditions, *resume).order_by(*order)


def _params(user_id: uuid.UUID | None, status: OrderStatus | None) -> dict[str, Any]:
    return {"user_id": user_id, "status": status.value if status else None}


class OrderViewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: uuid.UUID) -> OrderView | None:
        row: OrderView | None = (
            await self._session.execute(_BY_ID, {"order_id": order_id})
        ).one_or_none()
        return row

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
    ) -> tuple[list[OrderView], int]:
        """An offset page with the total of matching orders."""
        listing = _listing(by_user=user_id is not None, by_status=status is not None, keyset=False)
        return await page_with_total(
            self._session, listing, limit=limit, offset=offset, params=_params(user_id, status)
        )

    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[OrderView]:
        """Keyset pagination, newest first: the ``limit`` orders older than ``after``."""
        listing = _listing(
            by_user=user_id is not None, by_status=status is not None, keyset=after is not None
        )
        params = {**_params(user_id, status), "limit": limit}
        if after is not None:
            params["after_created"], params["after_id"] = after
        rows: list[OrderView] = list(await self._session.execute(first_rows(listing), params))
        return rows

    async def timelines(self, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[TimelineEntry]]:
        """The timelines of these orders, each oldest first (API v2 embeds them)."""
        found: dict[uuid.UUID, list[TimelineEntry]] = {order_id: [] for order_id in order_ids}
        if order_ids:
            for entry in await self._session.scalars(_TIMELINES, {"ids": order_ids}):
                found[entry.order_id].append(entry)
        return found
