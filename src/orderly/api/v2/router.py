"""API v2: items and orders with money as decimal strings and cursor pagination."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, status

from orderly.api.deps import Catalog, CurrentUser, CurrentViewer, Orders
from orderly.api.openapi import problem_responses
from orderly.api.v1.endpoints.orders import PlacedOrder, placing_responses
from orderly.api.v2 import cursor
from orderly.repositories.items import sort_value
from orderly.schemas.v2 import (
    CursorPage,
    ItemBrowseQuery,
    ItemReadV2,
    OrderBrowseQuery,
    OrderReadV2,
)
from orderly.services.catalog import InvalidPriceRange, ItemNotFound
from orderly.services.orders import OrderNotFound

router = APIRouter(prefix="/api/v2")


@router.get(
    "/items",
    tags=["items v2"],
    responses=problem_responses(cursor.InvalidCursor, InvalidPriceRange),
)
async def browse_items(
    request: Request, query: ItemBrowseQuery, catalog: Catalog
) -> CursorPage[ItemReadV2]:
    kind = f"items:{query.sort.value}"
    expect = datetime if query.sort.value.endswith("created") else (str, int)
    after = cursor.decode(query.cursor, kind, expect) if query.cursor else None
    found = await catalog.browse(
        criteria=query.criteria(), limit=query.limit + 1, sort=query.sort, after=after
    )
    page, more = found[: query.limit], len(found) > query.limit
    following = None
    if more:
        last = page[-1]
        token = cursor.encode(kind, sort_value(last, query.sort), last.id)
        following = cursor.next_link(request.url, token)
    return CursorPage[ItemReadV2](items=[ItemReadV2.of(i) for i in page], next=following)


@router.get("/items/{item_id}", tags=["items v2"], responses=problem_responses(ItemNotFound))
async def read_item(item_id: uuid.UUID, catalog: Catalog) -> ItemReadV2:
    return ItemReadV2.of(await catalog.get_item(item_id=item_id))


@router.get("/orders", tags=["orders v2"], responses=problem_responses(cursor.InvalidCursor))
async def browse_orders(
    request: Request, query: OrderBrowseQuery, viewer: CurrentViewer, orders: Orders
) -> CursorPage[OrderReadV2]:
    after = cursor.decode(query.cursor, "orders", datetime) if query.cursor else None
    found = await orders.browse(
        actor=viewer,
        limit=query.limit + 1,
        after=after,
        status=query.status,
        user_id=query.user_id,
    )
    page, more = found[: query.limit], len(found) > query.limit
    following = None
    if more:
        last, _ = page[-1]
        following = cursor.next_link(request.url, cursor.encode("orders", last.created_at, last.id))
    return CursorPage[OrderReadV2](items=[OrderReadV2.of(*o) for o in page], next=following)


@router.get("/orders/{order_id}", tags=["orders v2"], responses=problem_responses(OrderNotFound))
async def read_order(order_id: uuid.UUID, viewer: CurrentViewer, orders: Orders) -> OrderReadV2:
    return OrderReadV2.of(*await orders.view_with_timeline(actor=viewer, order_id=order_id))


@router.post(
    "/orders",
    tags=["orders v2"],
    status_code=status.HTTP_201_CREATED,
    responses=placing_responses(OrderReadV2),
)
async def place_order(order: PlacedOrder, user: CurrentUser, orders: Orders) -> OrderReadV2:
    # The v2 representation embeds the timeline: the placing transaction wrote it, and the
    # order's read model row.
    return OrderReadV2.of(*await orders.view_with_timeline(actor=user, order_id=order.id))
