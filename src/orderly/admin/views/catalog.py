"""Items: search, sort, create, edit, soft delete and restore, all through CatalogService and
validated by the API's own schemas, so a value the API refuses is refused here too."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin.filters import BooleanFilter
from starlette.datastructures import FormData
from starlette.requests import Request

from orderly.admin.base import PanelAction, PanelView, current_admin, parse_id
from orderly.models import Item
from orderly.schemas.items import ItemCreate, ItemUpdate

_EDITABLE = ("sku", "name", "description", "price_minor", "currency", "stock")


class ItemAdmin(PanelView, model=Item):
    name = "Item"
    name_plural = "Items"
    icon = "fa-solid fa-box"
    column_list: ClassVar[Any] = [
        Item.sku,
        Item.name,
        Item.price_minor,
        Item.currency,
        Item.stock,
        Item.is_active,
        Item.updated_at,
    ]
    column_searchable_list: ClassVar[Any] = [Item.name, Item.sku]
    column_sortable_list: ClassVar[Any] = [
        Item.sku,
        Item.name,
        Item.price_minor,
        Item.stock,
        Item.created_at,
        Item.updated_at,
    ]
    column_default_sort: ClassVar[Any] = [(Item.name, False)]
    column_filters: ClassVar[Any] = [BooleanFilter(Item.is_active, title="Active")]
    column_labels: ClassVar[Any] = {Item.price_minor: "Price (minor units)"}
    form_columns: ClassVar[Any] = [getattr(Item, field) for field in _EDITABLE]

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        body = ItemCreate.model_validate({k: v for k, v in data.items() if v is not None})
        item = await self.services().catalog.create_item(**body.model_dump())
        await self._audit(request, "item.create", item.id, body.model_dump())
        return item

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        item_id = parse_id(pk)
        catalog = self.services().catalog
        current = await catalog.get_item(item_id=item_id, include_inactive=True)
        body = ItemUpdate.model_validate({k: v for k, v in data.items() if k in _EDITABLE})
        changes = {
            field: value
            for field, value in body.model_dump(exclude_unset=True).items()
            if value is not None and value != getattr(current, field)
        }
        item = await catalog.update_item(item_id=item_id, changes=changes)
        if changes:
            await self._audit(request, "item.update", item_id, changes)
        return item

    async def delete_model(self, request: Request, pk: Any) -> None:
        """A soft delete: the item leaves the catalog and stays in the database."""
        await self.services().catalog.delete_item(item_id=parse_id(str(pk)))
        await self._audit(request, "item.delete", pk, {})

    def panel_actions(self, request: Request, obj: Any) -> list[PanelAction]:
        return [] if obj.is_active else [PanelAction("restore", "Restore to the catalog")]

    async def run_action(self, request: Request, pk: str, action: str, form: FormData) -> str:
        if action != "restore":
            return await super().run_action(request, pk, action, form)
        await self.services().catalog.update_item(item_id=parse_id(pk), changes={"is_active": True})
        await self._audit(request, "item.restore", pk, {})
        return "The item is back in the catalog"

    async def _audit(
        self, request: Request, action: str, item_id: object, details: dict[str, Any]
    ) -> None:
        await self.services().audit.record(
            admin=current_admin(request),
            action=action,
            target_type="item",
            target_id=item_id,
            details=details,
        )
