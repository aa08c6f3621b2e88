"""The catalog: public browsing of active items, admin maintenance with soft delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from orderly.core.errors import Conflict, NotFound, Unprocessable
from orderly.core.money import validate_currency
from orderly.models import Item, ItemSort
from orderly.unit_of_work import ConstraintViolated, UnitOfWork, UnitOfWorkFactory

EDITABLE_FIELDS = frozenset({"sku", "name", "description", "price_minor", "currency", "stock"})


class ItemNotFound(NotFound):
    code = "item-not-found"


class SkuTaken(Conflict):
    code = "sku-taken"


class InvalidPriceRange(Unprocessable):
    code = "invalid-price-range"


def _check_price_range(min_price: int | None, max_price: int | None) -> None:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise InvalidPriceRange("min_price must not be greater than max_price", field="min_price")


class CatalogService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def list_items(
        self,
        *,
        limit: int,
        offset: int,
        sort: ItemSort = ItemSort.NAME,
        q: str | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        in_stock: bool = False,
    ) -> tuple[list[Item], int]:
        _check_price_range(min_price, max_price)
        async with self._uow() as uow:
            return await uow.items.search(
                limit=limit,
                offset=offset,
                sort=sort,
                q=q.strip() if q else None,
                min_price=min_price,
                max_price=max_price,
                in_stock=in_stock,
            )

    async def browse(
        self,
        *,
        limit: int,
        sort: ItemSort = ItemSort.NAME,
        after: tuple[Any, uuid.UUID] | None = None,
        q: str | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        in_stock: bool = False,
    ) -> list[Item]:
        """Keyset pages of active items (API v2): the ``limit`` items after ``after``."""
        _check_price_range(min_price, max_price)
        async with self._uow() as uow:
            return await uow.items.search_after(
                limit=limit,
                sort=sort,
                after=after,
                q=q.strip() if q else None,
                min_price=min_price,
                max_price=max_price,
                in_stock=in_stock,
            )

    async def get_item(self, *, item_id: uuid.UUID, include_inactive: bool = False) -> Item:
        async with self._uow() as uow:
            item = await uow.items.get(item_id)
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
                    raise Unprocessable(f"{field} cannot be changed", field=field)
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
