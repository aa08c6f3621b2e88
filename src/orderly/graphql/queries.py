"""Queries: the catalog for everyone, the caller's account and orders, and for admins every
order and user. Each goes through the services REST uses, with the same visibility: someone
else's order is "not found", a customer asking for an admin field gets ``admin-required``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from orderly.graphql import paging
from orderly.graphql.context import Info
from orderly.graphql.errors import InvalidArgument, validated
from orderly.graphql.types import (
    Connection,
    Item,
    ItemSortEnum,
    Order,
    OrderStatusEnum,
    User,
    connection,
    field,
)
from orderly.models import ItemSort, OrderStatus
from orderly.models import Order as OrderEntity
from orderly.repositories.items import sort_value
from orderly.schemas.items import ItemCriteria

First = Annotated[int, strawberry.argument(description="page size, 1 to 100")]
After = Annotated[str | None, strawberry.argument(description="endCursor of the previous page")]
MAX_OFFSET = 1_000_000  # as REST's offset


def parse_id(value: strawberry.ID, argument: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidArgument(f"{argument} is not a valid id", argument=argument) from None


async def orders_page(
    info: Info,
    *,
    owner: uuid.UUID | None,
    first: int,
    after: str | None,
    status: OrderStatus | None,
) -> Connection[Order]:
    """Orders newest first (one owner's, or everyone's), with lines and timelines, in one
    short read-only unit of work: the page, its lines joined, the timelines in one more."""
    limit = paging.page_size(first)
    key = paging.after_key(after, paging.ORDERS, datetime)
    async with info.context.container.uow(read_only=True) as uow:
        found: list[OrderEntity] = await uow.orders.page_after(
            limit=limit + 1, user_id=owner, status=status, after=key, with_timeline=True
        )
    page = found[:limit]
    keys = [(paging.ORDERS, order.created_at, order.id) for order in page]
    return connection([Order.of(o) for o in page], keys, after=after, more=len(found) > limit)


@strawberry.type
class Query:
    @field("Active items, filtered and sorted as GET /api/v2/items")
    async def items(
        self,
        info: Info,
        *,
        first: First = paging.DEFAULT_PAGE_SIZE,
        after: After = None,
        q: Annotated[str | None, strawberry.argument(description="in the name or sku")] = None,
        min_price: Annotated[int | None, strawberry.argument(description="minor units")] = None,
        max_price: Annotated[int | None, strawberry.argument(description="minor units")] = None,
        in_stock: bool = False,
        sort: ItemSortEnum = ItemSort.NAME,  # type: ignore[valid-type]
    ) -> Connection[Item]:
        limit = paging.page_size(first)
        criteria = validated(
            ItemCriteria,
            {
                "q": q,
                "min_price": min_price,
                "max_price": max_price,
                "in_stock": in_stock,
                "sort": sort,
            },
        )
        kind, expect = paging.item_listing(criteria.sort.value)
        key = paging.after_key(after, kind, expect)
        found = await info.context.container.catalog.browse(
            criteria=criteria.criteria(), limit=limit + 1, sort=criteria.sort, after=key
        )
        page = found[:limit]
        keys = [(kind, sort_value(i, criteria.sort), i.id) for i in page]
        return connection([Item.of(i) for i in page], keys, after=after, more=len(found) > limit)

    @field("One active item")
    async def item(self, info: Info, id: strawberry.ID) -> Item:
        catalog = info.context.container.catalog
        return Item.of(await catalog.get_item(item_id=parse_id(id, "id")))

    @field("The signed-in user")
    async def me(self, info: Info) -> User:
        return User.of(await info.context.user())

    @field("The signed-in user's orders, newest first")
    async def my_orders(
        self,
        info: Info,
        first: First = paging.DEFAULT_PAGE_SIZE,
        after: After = None,
        status: OrderStatusEnum | None = None,  # type: ignore[valid-type]
    ) -> Connection[Order]:
        user = await info.context.user()
        return await orders_page(info, owner=user.id, first=first, after=after, status=status)

    @field("An order of yours (admins: any order)")
    async def order(self, info: Info, id: strawberry.ID) -> Order:
        order_id = parse_id(id, "id")
        user = await info.context.user()
        orders = info.context.container.orders
        return Order.of(await orders.get_order(actor=user, order_id=order_id, with_timeline=True))

    @field("Admins: every order, newest first, optionally one user's")
    async def orders(
        self,
        info: Info,
        first: First = paging.DEFAULT_PAGE_SIZE,
        after: After = None,
        status: OrderStatusEnum | None = None,  # type: ignore[valid-type]
        user_id: strawberry.ID | None = None,
    ) -> Connection[Order]:
        await info.context.admin()
        owner = None if user_id is None else parse_id(user_id, "userId")
        return await orders_page(info, owner=owner, first=first, after=after, status=status)

    @field("Admins: every account, oldest first")
    async def users(
        self,
        info: Info,
        first: First = paging.DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[User]:
        await info.context.admin()
        limit = paging.page_size(first)
        key = paging.after_key(after, paging.USERS, int)
        offset = 0 if key is None else key[0] + 1
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidArgument("The cursor is not valid for this listing", argument="after")
        found, total = await info.context.container.users.list_users(limit=limit, offset=offset)
        keys = [(paging.USERS, offset + n, user.id) for n, user in enumerate(found)]
        more = offset + len(found) < total
        return connection([User.of(u) for u in found], keys, after=after, more=more)
