"""Mutations through the services REST uses, with REST's request models validating the input
(a bad value is ``validation-failed`` naming the argument, and nothing is written), REST's
rate limits, and the same idempotency-key semantics as the ``Idempotency-Key`` header."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry
from pydantic import Field

from orderly.core.ratelimit import LimitScope
from orderly.graphql.context import Info
from orderly.graphql.errors import validated
from orderly.graphql.queries import parse_id
from orderly.graphql.types import Item, Order, PlacedOrder, User, mutation
from orderly.models import User as UserEntity
from orderly.schemas.auth import RegisterRequest
from orderly.schemas.common import RequestModel
from orderly.schemas.items import ItemUpdate
from orderly.schemas.orders import OrderCancel, OrderCreate, OrderPay
from orderly.services.orders import NewLine


class IdempotencyKeyArgument(RequestModel):
    """The ``Idempotency-Key`` header's rules (api/v1/endpoints/orders.py)."""

    idempotency_key: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


@strawberry.input
class RegisterInput:
    email: str
    password: str
    full_name: str


@strawberry.input
class OrderLineInput:
    item_id: strawberry.ID
    quantity: int


@strawberry.input
class PlaceOrderInput:
    lines: list[OrderLineInput]
    payment_method: str | None = strawberry.field(
        default=None, description="a provider token, e.g. pm_card_visa: charged by a worker"
    )


@strawberry.input(description="Only the fields given change; null is refused")
class ItemUpdateInput:
    sku: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    price_minor: int | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    stock: int | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET


def given(value: object) -> dict[str, Any]:
    """The fields of an input object that the request set (null included)."""
    return {k: v for k, v in vars(value).items() if v is not strawberry.UNSET}


async def current_order(info: Info, user: UserEntity, order_id: uuid.UUID) -> Order:
    """The order as it is now, with its timeline (the change's entry included)."""
    orders = info.context.container.orders
    return Order.of(await orders.get_order(actor=user, order_id=order_id, with_timeline=True))


@strawberry.type
class Mutation:
    @mutation("Create a customer account (then log in at /api/v1/auth)")
    async def register(self, info: Info, input: RegisterInput) -> User:
        context = info.context
        await context.container.rate_limiter.check(LimitScope.REGISTER, context.client)
        body = validated(RegisterRequest, given(input), argument="input")
        user = await context.container.users.register(
            email=body.email, password=body.password, full_name=body.full_name
        )
        return User.of(user)

    @mutation("Place an order; stock is reserved at once")
    async def place_order(
        self,
        info: Info,
        input: PlaceOrderInput,
        idempotency_key: Annotated[
            str | None,
            strawberry.argument(description="retrying with the same key and input: that order"),
        ] = None,
    ) -> PlacedOrder:
        user = await info.context.writer()
        values = {
            "lines": [given(line) for line in input.lines],
            "payment_method": input.payment_method,
        }
        body = validated(OrderCreate, values, argument="input")
        if idempotency_key is not None:
            validated(IdempotencyKeyArgument, {"idempotency_key": idempotency_key})
        placed = await info.context.container.orders.place(
            customer=user,
            lines=[NewLine(item_id=line.item_id, quantity=line.quantity) for line in body.lines],
            idempotency_key=idempotency_key,
            payment_method=body.payment_method,
        )
        order = await current_order(info, user, placed.order.id)
        return PlacedOrder(order=order, replayed=not placed.created)

    @mutation("Charge the order now")
    async def pay_order(
        self, info: Info, order_id: strawberry.ID, payment_method: str | None = None
    ) -> Order:
        user = await info.context.writer()
        order = parse_id(order_id, "orderId")
        body = validated(OrderPay, {"payment_method": payment_method})
        payments = info.context.container.payments
        await payments.pay(actor=user, order_id=order, payment_method=body.payment_method)
        return await current_order(info, user, order)

    @mutation("Cancel: unpaid at once, paid ones after the refund")
    async def cancel_order(
        self, info: Info, order_id: strawberry.ID, reason: str | None = None
    ) -> Order:
        user = await info.context.writer()
        order = parse_id(order_id, "orderId")
        body = validated(OrderCancel, {"reason": reason})
        await info.context.container.orders.cancel(actor=user, order_id=order, reason=body.reason)
        return await current_order(info, user, order)

    @mutation("Admins: change an item (isActive restores a deleted one)")
    async def update_item(
        self,
        info: Info,
        id: strawberry.ID,
        input: ItemUpdateInput,
    ) -> Item:
        await info.context.admin_writer()
        item_id = parse_id(id, "id")
        changes = validated(ItemUpdate, given(input), argument="input")
        catalog = info.context.container.catalog
        item = await catalog.update_item(
            item_id=item_id, changes=changes.model_dump(exclude_unset=True)
        )
        return Item.of(item)

    @mutation("Admins: mark a paid order shipped")
    async def fulfil_order(self, info: Info, order_id: strawberry.ID) -> Order:
        admin = await info.context.admin_writer()
        order = parse_id(order_id, "orderId")
        await info.context.container.orders.fulfil(actor=admin, order_id=order)
        return await current_order(info, admin, order)
