"""Queries on catalog items. Never commits: the unit of work owns the transaction."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import Availability, Item, ItemFilter, ItemSort, ItemView
from orderly.repositories.paging import first_rows, page_with_total

_ITEMS = cast(Table, Item.__table__)  # typed as any FromClause; UPDATE needs the Table
_SORT_COLUMN: dict[ItemSort, Any] = {
    ItemSort.NAME: _ITEMS.c.name,
    ItemSort.NAME_DESC: _ITEMS.c.name,
    ItemSort.PRICE: _ITEMS.c.price_minor,
    ItemSort.PRICE_DESC: _ITEMS.c.price_minor,
    ItemSort.CREATED: _ITEMS.c.created_at,
    ItemSort.CREATED_DESC: _ITEMS.c.created_at,
}
_ORDER: dict[ItemSort, Any] = {
    sort: column.desc() if sort.value.startswith("-") else column.asc()
    for sort, column in _SORT_COLUMN.items()
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Statements are built once and executed with bound values: building a SELECT costs about as
# much CPU as running it (profiled in bench/profile.py), and a statement object built once
# also keeps its compiled-cache key.
_BY_ID = select(Item).where(Item.id == bindparam("item_id"))
_BY_SKU = select(Item).where(Item.sku == bindparam("sku"))
_BY_IDS = select(Item).where(Item.id.in_(bindparam("item_ids", expanding=True)))
# Stock moves are plain (Core) UPDATEs on the table: the ORM's bulk-update path would only
# add bookkeeping (no loaded item is synchronised: synchronize_session was off anyway).
_RESERVE = (
    update(_ITEMS)
    .where(
        _ITEMS.c.id == bindparam("item_id"),
        _ITEMS.c.is_active.is_(True),
        _ITEMS.c.stock >= bindparam("quantity"),
    )
    .values(stock=_ITEMS.c.stock - bindparam("quantity"))
    .returning(_ITEMS.c.stock)
)
_RELEASE = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"))
    .values(stock=_ITEMS.c.stock + bindparam("quantity"))
    .returning(_ITEMS.c.stock)
)
_COUNT = select(func.count()).select_from(Item)
_VIEW_BY_ID = select(*_ITEMS.c).where(_ITEMS.c.id == bindparam("item_id"))


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # A stock move in this unit of work changed an item's availability level: the unit
        # of work advances the catalog version after its commit (cached pages show levels).
        self.availability_changed = False

    def add(self, item: Item) -> None:
        self._session.add(item)

    async def get(self, item_id: uuid.UUID) -> Item | None:
        return (await self._session.scalars(_BY_ID, {"item_id": item_id})).one_or_none()

    async def view(self, item_id: uuid.UUID) -> ItemView | None:
        """The item as a row, for showing (the read side: see ``_matching``)."""
        row: ItemView | None = (
            await self._session.execute(_VIEW_BY_ID, {"item_id": item_id})
        ).first()
        return row

    async def get_by_sku(self, sku: str) -> Item | None:
        found = await self._session.scalars(_BY_SKU, {"sku": Item.normalize_sku(sku)})
        return found.one_or_none()

    async def get_many(self, item_ids: list[uuid.UUID]) -> list[Item]:
        return list(await self._session.scalars(_BY_IDS, {"item_ids": item_ids}))

    async def reserve_stock(self, item_id: uuid.UUID, quantity: int) -> bool:
        """Take ``quantity`` if that much is in stock: one conditional UPDATE, never below 0."""
        params = {"item_id": item_id, "quantity": quantity}
        left = (await self._session.execute(_RESERVE, params)).scalar_one_or_none()
        if left is None:
            return False
        self._moved(before=left + quantity, after=left)
        return True

    async def release_stock(self, item_id: uuid.UUID, quantity: int) -> None:
        params = {"item_id": item_id, "quantity": quantity}
        now = (await self._session.execute(_RELEASE, params)).scalar_one_or_none()
        if now is not None:
            self._moved(before=now - quantity, after=now)

    def _moved(self, *, before: int, after: int) -> None:
        if Availability.of(before) is not Availability.of(after):
            self.availability_changed = True

    async def count(self) -> int:
        return (await self._session.scalar(_COUNT)) or 0

    async def search(
        self, *, criteria: ItemFilter, limit: int, offset: int, sort: ItemSort = ItemSort.NAME
    ) -> tuple[list[ItemView], int]:
        """Active items matching ``criteria``, one page of them (rows) and the total."""
        statement = _matching(_UsedFilters.of(criteria), sort, keyset=False)
        params = _UsedFilters.params(criteria)
        return await page_with_total(
            self._session, statement, limit=limit, offset=offset, params=params
        )

    async def search_after(
        self,
        *,
        criteria: ItemFilter,
        limit: int,
        sort: ItemSort = ItemSort.NAME,
        after: tuple[Any, uuid.UUID] | None = None,
    ) -> list[ItemView]:
        """Keyset pagination: the ``limit`` items (rows) that follow ``after`` (sort value, id)."""
        statement = _matching(_UsedFilters.of(criteria), sort, keyset=after is not None)
        params = {**_UsedFilters.params(criteria), "limit": limit}
        if after is not None:
            params["after_value"], params["after_id"] = after
        return list(await self._session.execute(first_rows(statement), params))


def sort_value(item: ItemView, sort: ItemSort) -> Any:
    """The value of ``item`` in the column ``sort`` orders by (for a keyset cursor)."""
    return getattr(item, _SORT_COLUMN[sort].key)


class _UsedFilters(NamedTuple):
    """Which filters a search uses: the statement depends on this, the values are bound."""

    q: bool
    min_price: bool
    max_price: bool
    in_stock: bool

    @classmethod
    def of(cls, criteria: ItemFilter) -> _UsedFilters:
        return cls(
            bool(criteria.q),
            criteria.min_price is not None,
            criteria.max_price is not None,
            criteria.in_stock,
        )

    @staticmethod
    def params(criteria: ItemFilter) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if criteria.q:
            params["pattern"] = f"%{_escape_like(criteria.q)}%"
        if criteria.min_price is not None:
            params["min_price"] = criteria.min_price
        if criteria.max_price is not None:
            params["max_price"] = criteria.max_price
        return params


@lru_cache(maxsize=256)  # 16 combinations of filters x 6 sorts x keyset or not
def _matching(used: _UsedFilters, sort: ItemSort, *, keyset: bool) -> Select[Any]:
    """Active items matching the filters in ``used``, ordered by ``sort`` then id.

    The catalog's read side: the columns of the table, not the entity. Public pages only
    show items, so their rows need no identity map, instance state or change tracking, which
    costs CPU on every page (bench/profile.py, s1-items)."""
    conditions: list[ColumnElement[bool]] = [_ITEMS.c.is_active.is_(True)]
    if used.q:
        pattern = bindparam("pattern", type_=String)
        conditions.append(
            or_(_ITEMS.c.name.ilike(pattern, escape="\\"), _ITEMS.c.sku.ilike(pattern, escape="\\"))
        )
    if used.min_price:
        conditions.append(_ITEMS.c.price_minor >= bindparam("min_price"))
    if used.max_price:
        conditions.append(_ITEMS.c.price_minor <= bindparam("max_price"))
    if used.in_stock:
        conditions.append(_ITEMS.c.stock > 0)
    if keyset:
        column = _SORT_COLUMN[sort]
        value = bindparam("after_value", type_=column.type)
        last_id = bindparam("after_id", type_=_ITEMS.c.id.type)
        beyond = column < value if sort.value.startswith("-") else column > value
        conditions.append(or_(beyond, and_(column == value, _ITEMS.c.id > last_id)))
    return select(*_ITEMS.c).where(*conditions).order_by(_ORDER[sort], _ITEMS.c.id)
