from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from orderly.api.deps import AdminWriter, Catalog
from orderly.api.openapi import problem_responses
from orderly.schemas.common import Page
from orderly.schemas.items import ItemCreate, ItemFiltersQuery, ItemRead, ItemUpdate
from orderly.services.catalog import InvalidPriceRange, ItemNotFound, SkuTaken

router = APIRouter(prefix="/items", tags=["items"])


@router.get("", responses=problem_responses(InvalidPriceRange))
async def list_items(filters: ItemFiltersQuery, catalog: Catalog) -> Page[ItemRead]:
    found, total = await catalog.list_items(
        criteria=filters.criteria(), limit=filters.limit, offset=filters.offset, sort=filters.sort
    )
    return Page[ItemRead](
        items=[ItemRead.model_validate(i) for i in found],
        total=total,
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/{item_id}", responses=problem_responses(ItemNotFound))
async def read_item(item_id: uuid.UUID, catalog: Catalog) -> ItemRead:
    return ItemRead.model_validate(await catalog.get_item(item_id=item_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(SkuTaken),
)
async def create_item(
    body: ItemCreate, _: AdminWriter, catalog: Catalog, response: Response
) -> ItemRead:
    item = await catalog.create_item(**body.model_dump())
    response.headers["Location"] = f"/api/v1/items/{item.id}"
    return ItemRead.model_validate(item)


@router.patch("/{item_id}", responses=problem_responses(ItemNotFound, SkuTaken))
async def update_item(
    item_id: uuid.UUID, body: ItemUpdate, _: AdminWriter, catalog: Catalog
) -> ItemRead:
    changes = body.model_dump(exclude_unset=True)
    return ItemRead.model_validate(await catalog.update_item(item_id=item_id, changes=changes))


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(ItemNotFound),
)
async def delete_item(item_id: uuid.UUID, _: AdminWriter, catalog: Catalog) -> None:
    """Soft delete: the item leaves the public catalog but stays for existing orders."""
    await catalog.delete_item(item_id=item_id)
