"""Reading orders: single orders and pages from the read model (``order_views``, written
with every change, so a customer always reads their own write), and the write model's
order with its timeline for the live stream and the admin panel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol, TypeVar

from orderly.core.errors import NotFound
from orderly.models import Order, OrderStatus, OrderView, TimelineEntry
from orderly.unit_of_work import UnitOfWorkFactory


class OrderNotFound(NotFound):
    code = "order-not-found"


class Owned(Protocol):
    @property
    def user_id(self) -> uuid.UUID: ...


class Reader(Protocol):
    """Who reads: a ``User``, or a ``Viewer`` (the signed-in account of a read-only request)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def is_admin(self) -> bool: ...


Visible = TypeVar("Visible", bound=Owned)


class OrderReading:
    """The reading use cases of ``OrderService``."""

    _uow: UnitOfWorkFactory

    async def get_order(
        self, *, actor: Reader, order_id: uuid.UUID, with_timeline: bool = False
    ) -> Order:
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(order_id, with_timeline=with_timeline)
        return visible_to(actor, order, order_id)

    async def timeline(self, *, actor: Reader, order_id: uuid.UUID) -> list[TimelineEntry]:
        """What happened to the order, oldest first (owner or admin)."""
        order = await self.get_order(actor=actor, order_id=order_id, with_timeline=True)
        return order.timeline

    async def view(self, *, actor: Reader, order_id: uuid.UUID) -> OrderView:
        """The order as the read model has it (owner or admin)."""
        async with self._uow(read_only=True) as uow:
            return visible_to(actor, await uow.order_views.get(order_id), order_id)

    async def view_with_timeline(
        self, *, actor: Reader, order_id: uuid.UUID
    ) -> tuple[OrderView, list[TimelineEntry]]:
        async with self._uow(read_only=True) as uow:
            view = visible_to(actor, await uow.order_views.get(order_id), order_id)
            return view, (await uow.order_views.timelines([order_id]))[order_id]

    async def list_orders(
        self,
        *,
        actor: Reader,
        limit: int,
        offset: int,
        status: OrderStatus | None = None,
        user_id: uuid.UUID | None = None,
    ) -> tuple[list[OrderView], int]:
        """Customers see their own orders; an admin sees all, optionally one user's. Read
        from the read model, which commits with every change: a customer's own change is
        always there."""
        owner = user_id if actor.is_admin else actor.id
        async with self._uow(read_only=True) as uow:
            return await uow.order_views.page(
                limit=limit, offset=offset, user_id=owner, status=status
            )

    async def browse(
        self,
        *,
        actor: Reader,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
        status: OrderStatus | None = None,
        user_id: uuid.UUID | None = None,
    ) -> list[tuple[OrderView, list[TimelineEntry]]]:
        """Keyset pages, newest first, each order with its timeline (API v2); the same
        visibility as ``list_orders``."""
        owner = user_id if actor.is_admin else actor.id
        async with self._uow(read_only=True) as uow:
            views = await uow.order_views.page_after(
                limit=limit, user_id=owner, status=status, after=after
            )
            timelines = await uow.order_views.timelines([view.id for view in views])
        return [(view, timelines[view.id]) for view in views]


def visible_to(actor: Reader, order: Visible | None, order_id: uuid.UUID) -> Visible:
    """The order, if ``actor`` may see it: its owner or an admin. Someone else's order is
    answered like a missing one: ids are not confirmed to strangers."""
    if order is None or (order.user_id != actor.id and not actor.is_admin):
        raise OrderNotFound(f"No order with id {order_id}")
    return order
