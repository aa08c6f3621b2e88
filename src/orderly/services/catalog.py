"""The catalog: public browsing of active items, admin maintenance with soft delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from orderly.core.errors import Conflict, NotFound, Unprocessable
from orderly.core.money import validate_currency
from orderly.models import Item, ItemFilter, ItemSort, ItemView
from orderly.unit_of_work import ConstraintViolated, UnitOfWork, UnitOfWorkFactory

NO_FILTER = ItemFilter()
EDITABLE_FIELDS = frozenset({"sku", "name", "description", "price_minor", "currency", "stock"})


class ItemNotFound(NotFound):
    code = "item-not-found"


class SkuTaken(Conflict):
    code = "sku-taken"


class FieldNotEditable(Unprocessable):
    code = "field-not-editable"


class InvalidPriceRange(Unprocessable):
    code = "invalid-price-range"


def _checked(criteria: ItemFilter) -> ItemFilter:
    low, high = criteria.min_price, criteria.max_price
    if low is not None and high is not None and low > high:
        raise InvalidPriceRange("min_price must not be greater than max_price", field="min_price")
    q = criteria.q.strip() if criteria.q else None
    return replace(criteria, q=q or None)


class CatalogService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def list_items(
        self,
        *,
        criteria: ItemFilter = NO_FILTER,
        limit: int,
        offset: int,
        sort: ItemSort = ItemSort.NAME,
    ) -> tuple[list[ItemView], int]:
        async with self._uow(read_only=True) as uow:
            return await uow.items.search(
                criteria=_checked(criteria), limit=limit, offset=offset, sort=sort
            )

    async def browse(
        self,
        *,
        criteria: ItemFilter = NO_FILTER,
        limit: int,
        sort: ItemSort = ItemSort.NAME,
        after: tuple[Any, uuid.UUID] | None = None,
    ) -> list[ItemView]:
        """Keyset pages of active items (API v2): the ``limit`` items after ``after``."""
        async with self._uow(read_only=True) as uow:
            return await uow.items.search_after(
                criteria=_checked(criteria), limit=limit, sort=sort, after=after
            )

    async def get_item(self, *, item_id: uuid.UUID, include_inactive: bool = False) -> ItemView:
        async with self._uow(read_only=True) as uow:
            item = await uow.items.view(item_id)
        if item is None or (not item.is_active and not include_inactive):
            raise ItemNotFound(f"No item with id {item_id}")
        return item

    async def create_item(
        self,
        *,
        sku: str,
        name: str,
        price_minor: int,
        currency: str,
        stock: int,
        description: str = "",
    ) -> Item:
        item = Item(
            id=uuid.uuid4(),
            sku=Item.normalize_sku(sku),
            name=name.strip(),
            description=description,
            price_minor=price_minor,
            currency=validate_currency(currency),
            stock=stock,
            is_active=True,
        )
        async with self._uow() as uow:
            if await uow.items.get_by_sku(item.sku) is not None:
                raise SkuTaken(f"An item with sku {item.sku} already exists", field="sku")
            uow.items.add(item)
            await self._commit(uow, item.sku)
        return item

    async def update_item(self, *, item_id: uuid.UUID, changes: Mapping[str, Any]) -> Item:
        """Apply the given fields (admin); ``is_active`` may restore a soft-deleted item."""
        async with self._uow() as uow:
            item = await uow.items.get(item_id)
            if item is None:
                raise ItemNotFound(f"No item with id {item_id}")
            for field, value in changes.items():
                if field == "sku":
                    sku = Item.normalize_sku(value)
                    other = await uow.items.get_by_sku(sku)
                    if other is not None and other.id != item.id:
                        raise SkuTaken(f"An item with sku {sku} already exists", field="sku")
                    item.sku = sku
                elif field == "currency":
                    item.currency = validate_currency(value)
                elif field == "is_active":
                    item.is_active = bool(value)
                elif field in EDITABLE_FIELDS:
                    setattr(item, field, value.strip() if field == "name" else value)
                else:
                    raise FieldNotEditable(f"{field} cannot be changed", field=field)
            await self._commit(uow, item.sku)
            return item

    async def delete_item(self, *, item_id: uuid.UUID) -> None:
        async with self._uow() as uow:
            item = await uow.items.get(item_id)
            if item is None:
                raise ItemNotFound(f"No item with id {item_id}")
            item.deactivate()
            await uow.commit()

    @staticmethod
    async def _commit(uow: UnitOfWork, sku: str) -> None:
        try:
            await uow.commit()
        except ConstraintViolated as exc:
            raise SkuTaken(f"An item with sku {sku} already exists", field="sku") from exc
