"""The GraphQL object types: what REST v2 shows (money as amount and currency), built from
the same entities and read rows. Related objects (an order line's item, an order's payments)
come through the request's dataloaders, so a page costs a fixed number of queries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from orderly.events.types import ActorKind
from orderly.graphql import paging
from orderly.graphql.context import Info
from orderly.models import ItemSort, OrderStatus, Role
from orderly.models.payment import PaymentStatus
from orderly.schemas.v2 import Money as MoneyV2

if TYPE_CHECKING:
    from orderly import models

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def resolver(decorator: Callable[..., Any], description: str) -> Callable[[F], F]:
    """``strawberry.field`` / ``mutation`` / ``subscription`` with a description, typed for
    mypy (their decorator-factory form is untyped)."""
    return cast(Callable[[F], F], decorator(description=description))


def field(description: str) -> Callable[[F], F]:
    return resolver(strawberry.field, description)


def mutation(description: str) -> Callable[[F], F]:
    return resolver(strawberry.mutation, description)


def subscription(description: str) -> Callable[[F], F]:
    return resolver(strawberry.subscription, description)


OrderStatusEnum = strawberry.enum(OrderStatus, name="OrderStatus")
ItemSortEnum = strawberry.enum(ItemSort, name="ItemSort", description="catalog order")
RoleEnum = strawberry.enum(Role, name="Role")
PaymentStatusEnum = strawberry.enum(PaymentStatus, name="PaymentStatus")
ActorKindEnum = strawberry.enum(ActorKind, name="ActorKind")


@strawberry.type(description="An exact amount: a decimal string and its ISO 4217 currency")
class Money:
    amount: str
    currency: str

    @classmethod
    def of(cls, amount_minor: int, currency: str) -> Money:
        money = MoneyV2.of(amount_minor, currency)
        return cls(amount=money.amount, currency=money.currency)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


# What an edge's cursor encodes: (listing, sort value, row id), ``paging.encode``'s arguments.
CursorKey: TypeAlias = tuple[str, Any, uuid.UUID]


def encoded_cursor(root: Edge[Any]) -> str:
    """An edge's cursor, encoded when a client asks for it (a page that shows none encodes
    none)."""
    return paging.encode(*root.key)


@strawberry.type
class Edge(Generic[T]):
    key: strawberry.Private[CursorKey]
    cursor: str = strawberry.field(resolver=encoded_cursor)
    node: T


@strawberry.type(description="A page of a list (Relay cursor connection); pass endCursor as after")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


@strawberry.type
class Item:
    id: strawberry.ID
    sku: str
    name: str
    description: str
    price: Money
    stock: int
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: models.ItemView) -> Item:
        return cls(
            id=strawberry.ID(str(item.id)),
            sku=item.sku,
            name=item.name,
            description=item.description,
            price=Money.of(item.price_minor, item.currency),
            stock=item.stock,
            is_active=item.is_active,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    full_name: str
    role: RoleEnum  # type: ignore[valid-type]
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: models.User) -> User:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


@strawberry.type
class Actor:
    kind: ActorKindEnum  # type: ignore[valid-type]
    id: strawberry.ID | None = strawberry.field(description="none for the system and workers")


@strawberry.type(description="One step of an order: what happened, when, and who did it")
class TimelineEntry:
    sequence: int
    type: str
    from_status: str | None
    to_status: str
    actor: Actor
    reason: str | None
    data: JSON
    occurred_at: datetime

    @classmethod
    def of(cls, entry: models.TimelineEntry) -> TimelineEntry:
        actor = entry.actor
        return cls(
            sequence=entry.sequence,
            type=entry.type,
            from_status=entry.from_status,
            to_status=entry.to_status,
            actor=Actor(kind=actor.kind, id=strawberry.ID(str(actor.id)) if actor.id else None),
            reason=entry.reason,
            data=cast(JSON, entry.data),
            occurred_at=entry.occurred_at,
        )


@strawberry.type
class Payment:
    status: PaymentStatusEnum  # type: ignore[valid-type]
    amount: Money
    attempts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: models.Payment) -> Payment:
        return cls(
            status=payment.status,
            amount=Money.of(payment.amount_minor, payment.currency),
            attempts=payment.attempts,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


@strawberry.type
class OrderLine:
    item_id: strawberry.ID
    quantity: int
    unit_price: Money

    @field("the item as it is now (also when no longer sold)")
    async def item(self, info: Info) -> Item | None:
        found = await info.context.loaders.items.load(uuid.UUID(self.item_id))
        return None if found is None else Item.of(found)

    @classmethod
    def of(cls, line: models.OrderLine, currency: str) -> OrderLine:
        return cls(
            item_id=strawberry.ID(str(line.item_id)),
            quantity=line.quantity,
            unit_price=Money.of(line.unit_price_minor, currency),
        )


@strawberry.type
class Order:
    id: strawberry.ID
    user_id: strawberry.ID
    status: OrderStatusEnum  # type: ignore[valid-type]
    total: Money
    lines: list[OrderLine]
    timeline: list[TimelineEntry] = strawberry.field(description="every step, oldest first")
    created_at: datetime
    updated_at: datetime

    @field("the order's payment at the provider (none before the first)")
    async def payments(self, info: Info) -> list[Payment]:
        found = await info.context.loaders.payments.load(uuid.UUID(self.id))
        return [Payment.of(payment) for payment in found]

    @classmethod
    def of(cls, order: models.Order) -> Order:
        """``order`` loaded with its lines and its timeline."""
        return cls(
            id=strawberry.ID(str(order.id)),
            user_id=strawberry.ID(str(order.user_id)),
            status=order.status,
            total=Money.of(order.total_minor, order.currency),
            lines=[OrderLine.of(line, order.currency) for line in order.lines],
            timeline=[TimelineEntry.of(entry) for entry in order.timeline],
            created_at=order.created_at,
            updated_at=order.updated_at,
        )


@strawberry.type
class PlacedOrder:
    order: Order
    replayed: bool = strawberry.field(
        description="true when the idempotency key answered with the order it placed before"
    )


@strawberry.type(description="A change of a watched order (the first message: its snapshot)")
class OrderStatusUpdate:
    order_id: strawberry.ID
    sequence: int = strawberry.field(description="the order's timeline position")
    type: str = strawberry.field(description="'snapshot', or the step, e.g. order.paid")
    status: OrderStatusEnum  # type: ignore[valid-type]
    from_status: str | None
    occurred_at: datetime | None


def connection(
    nodes: list[T], keys: list[CursorKey], *, after: str | None, more: bool
) -> Connection[T]:
    """A connection of ``nodes`` (already GraphQL objects) with their cursors' keys."""
    return Connection(
        edges=[Edge(key=k, node=n) for n, k in zip(nodes, keys, strict=True)],
        page_info=PageInfo(
            has_next_page=more,
            has_previous_page=after is not None,
            start_cursor=paging.encode(*keys[0]) if keys else None,
            end_cursor=paging.encode(*keys[-1]) if keys else None,
        ),
    )
