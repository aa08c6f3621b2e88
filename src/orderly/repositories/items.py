"""Queries on catalog items. Never commits: the unit of work owns the transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import Item, ItemFilter, ItemSort

_SORT_COLUMN: dict[ItemSort, Any] = {
    ItemSort.NAME: Item.name,
    ItemSort.NAME_DESC: Item.name,
    ItemSort.PRICE: Item.price_minor,
    ItemSort.PRICE_DESC: Item.price_minor,
    ItemSort.CREATED: Item.created_at,
    ItemSort.CREATED_DESC: Item.created_at,
}
_ORDER: dict[ItemSort, Any] = {
    ItemSort.NAME: Item.name.asc(),
    ItemSort.NAME_DESC: Item.name.desc(),
    ItemSort.PRICE: Item.price_minor.asc(),
    ItemSort.PRICE_DESC: Item.price_minor.desc(),
    ItemSort.CREATED: Item.created_at.asc(),
    ItemSort.CREATED_DESC: Item.created_at.desc(),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, item: Item) -> None:
        self._session.add(item)

    async def get(self, item_id: uuid.UUID) -> Item | None:
        return await self._session.get(Item, item_id)

    async def get_by_sku(self, sku: str) -> Item | None:
        statement = select(Item).where(Item.sku == Item.normalize_sku(sku))
        return (await self._session.scalars(statement)).one_or_none()

    async def get_many(self, item_ids: list[uuid.UUID]) -> list[Item]:
        return list(await self._session.scalars(select(Item).where(Item.id.in_(item_ids))))

    async def reserve_stock(self, item_id: uuid.UUID, quantity: int) -> bool:
        """Take ``quantity`` if that much is in stock: one conditional UPDATE, never below 0."""
        statement = (
            update(Item)
            .where(Item.id == item_id, Item.is_active.is_(True), Item.stock >= quantity)
            .values(stock=Item.stock - quantity)
            .execution_options(synchronize_session=False)
        )
        result: CursorResult[Any] = await self._session.execute(statement)  # type: ignore[assignment]
        return result.rowcount == 1

    async def release_stock(self, item_id: uuid.UUID, quantity: int) -> None:
        statement = (
            update(Item)
            .where(Item.id == item_id)
            .values(stock=Item.stock + quantity)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(statement)

    async def count(self) -> int:
        return (await self._session.scalar(select(func.count()).select_from(Item))) or 0

    async def search(
        self, *, criteria: ItemFilter, limit: int, offset: int, sort: ItemSort = ItemSort.NAME
    ) -> tuple[list[Item], int]:
        """Active items matching ``criteria``, one page of them and the total."""
        conditions = _conditions(criteria)
        page = (
            select(Item)
            .where(*conditions)
            .order_by(_ORDER[sort], Item.id)
            .limit(limit)
            .offset(offset)
        )
        items = list(await self._session.scalars(page))
        total_query = select(func.count()).select_from(Item).where(*conditions)
        total = (await self._session.scalar(total_query)) or 0
        return items, total

    async def search_after(
        self,
        *,
        criteria: ItemFilter,
        limit: int,
        sort: ItemSort = ItemSort.NAME,
        after: tuple[Any, uuid.UUID] | None = None,
    ) -> list[Item]:
        """Keyset pagination: the ``limit`` items that follow ``after`` (sort value, id)."""
        conditions = _conditions(criteria)
        if after is not None:
            column = _SORT_COLUMN[sort]
            value, last_id = after
            beyond = column < value if sort.value.startswith("-") else column > value
            conditions.append(or_(beyond, and_(column == value, Item.id > last_id)))
        page = select(Item).where(*conditions).order_by(_ORDER[sort], Item.id).limit(limit)
        return list(await self._session.scalars(page))


def sort_value(item: Item, sort: ItemSort) -> Any:
    """The value of ``item`` in the column ``sort`` orders by (for a keyset cursor)."""
    return getattr(item, _SORT_COLUMN[sort].key)


def _conditions(criteria: ItemFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Item.is_active.is_(True)]
    if criteria.q:
        pattern = f"%{_escape_like(criteria.q)}%"
        conditions.append(
            or_(Item.name.ilike(pattern, escape="\\"), Item.sku.ilike(pattern, escape="\\"))
        )
    if criteria.min_price is not None:
        conditions.append(Item.price_minor >= criteria.min_price)
    if criteria.max_price is not None:
        conditions.append(Item.price_minor <= criteria.max_price)
    if criteria.in_stock:
        conditions.append(Item.stock > 0)
    return conditions
