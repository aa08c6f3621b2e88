"""Keeps the orders' read model (``order_views``) in step with the orders.

Incrementally, in the unit of work's commit: the orders the unit of work added or changed
are noted before anything is written (``changed_orders``), then, after the flush and in the
same transaction, their rows are written from the entities' state and the events they
recorded (``write``): a new order's whole row; for a changed one its status, its update
time and, when it recorded an event, its last timeline step (its lines and total never
change after placing, and are not loaded to pay). Nothing is read back.

From scratch (``rebuild``): every order's row recomputed from the write tables, in batches
of locked orders, so it can run while the API serves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.events.types import Event, OrderEvent
from orderly.models import Item, Order, OrderLine, OrderStatus, TimelineEntry
from orderly.models.order_view import LineView, order_views

_INSERT = insert(order_views)
_CHANGE = (
    update(order_views)
    .where(order_views.c.order_id == bindparam("b_order_id"))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_updated_at"))
)
_STEP = _CHANGE.values(
    last_step_type=bindparam("b_type"),
    last_step_sequence=bindparam("b_sequence"),
    last_step_at=bindparam("b_at"),
)


@dataclass(frozen=True, slots=True)
class Step:
    """An order's last timeline entry."""

    type: str
    sequence: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangedOrders:
    added: list[Order]
    changed: list[Order]


def changed_orders(session: AsyncSession) -> ChangedOrders:
    """The orders this commit writes; noted before the writes (written new ones leave the
    session). An order left unchanged on the whole is not rewritten."""
    return ChangedOrders(
        added=[entity for entity in session.new if isinstance(entity, Order)],
        changed=[
            entity
            for entity in session.dirty
            if isinstance(entity, Order) and session.is_modified(entity)
        ],
    )


async def write(session: AsyncSession, orders: ChangedOrders, events: Sequence[Event]) -> None:
    """The rows of ``orders`` after the flush (which set their update times), in the
    current transaction."""
    steps = last_steps(event for event in events if isinstance(event, OrderEvent))
    if orders.added:
        rows = [
            view_row(order, [line_view(line) for line in order.lines], steps.get(order.id))
            for order in orders.added
        ]
        await session.execute(_INSERT, rows)
    plain, stepped = [], []
    for order in orders.changed:
        values = {
            "b_order_id": order.id,
            "b_status": OrderStatus(order.status).value,
            "b_updated_at": order.updated_at,
        }
        step = steps.get(order.id)
        if step is None:
            plain.append(values)
        else:
            stepped.append(
                {**values, "b_type": step.type, "b_sequence": step.sequence, "b_at": step.at}
            )
    if plain:
        await session.execute(_CHANGE, plain)
    if stepped:
        await session.execute(_STEP, stepped)


def last_steps(events: Iterable[OrderEvent]) -> dict[uuid.UUID, Step]:
    steps: dict[uuid.UUID, Step] = {}
    for event in events:
        known = steps.get(event.order_id)
        if known is None or event.sequence > known.sequence:
            steps[event.order_id] = Step(event.public_name(), event.sequence, event.occurred_at)
    return steps


def line_view(line: OrderLine) -> LineView:
    """A new order's line; its item is the one it was placed with (see ``Order.place``)."""
    return {
        "item_id": str(line.item_id),
        "name": line.item.name if line.item is not None else None,
        "quantity": line.quantity,
        "unit_price_minor": line.unit_price_minor,
    }


def view_row(order: Any, lines: list[LineView], step: Step | None) -> dict[str, Any]:
    """The read model's row of ``order`` (an ``Order`` or a row of the orders table)."""
    return {
        "order_id": order.id,
        "user_id": order.user_id,
        "status": OrderStatus(order.status).value,
        "total_minor": order.total_minor,
        "currency": order.currency,
        "lines": lines,
        "last_step_type": step.type if step else None,
        "last_step_sequence": step.sequence if step else None,
        "last_step_at": step.at if step else None,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


# -- rebuilding from the write tables ---------------------------------------------------

_ORDERS = Order.__table__
_COUNT = select(func.count()).select_from(_ORDERS)
_BATCH_OF_ORDERS = (
    select(
        _ORDERS.c.id,
        _ORDERS.c.user_id,
        _ORDERS.c.status,
        _ORDERS.c.total_minor,
        _ORDERS.c.currency,
        _ORDERS.c.created_at,
        _ORDERS.c.updated_at,
        TimelineEntry.type,
        TimelineEntry.sequence,
        TimelineEntry.occurred_at,
    )
    .outerjoin(
        TimelineEntry.__table__,
        (TimelineEntry.order_id == _ORDERS.c.id)
        & (TimelineEntry.sequence == _ORDERS.c.timeline_position),
    )
    .where(_ORDERS.c.id > bindparam("after"))
    .order_by(_ORDERS.c.id)
    .limit(bindparam("limit"))
    # A change to one of these orders waits for the batch (every transition locks its
    # order first), so a row written here is never older than the order.
    .with_for_update(of=_ORDERS)
)
_LINES_OF = (
    select(OrderLine.order_id, OrderLine.item_id, Item.name, OrderLine.quantity)
    .add_columns(OrderLine.unit_price_minor)
    .join(Item, Item.id == OrderLine.item_id)
    .where(OrderLine.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(OrderLine.order_id, OrderLine.position)
)
_FORGET = delete(order_views).where(order_views.c.order_id.in_(bindparam("ids", expanding=True)))


async def count_orders(session: AsyncSession) -> int:
    return int(await session.scalar(_COUNT) or 0)


async def rebuild_batch(session: AsyncSession, *, after: uuid.UUID, limit: int) -> list[uuid.UUID]:
    """Rewrite the rows of the next ``limit`` orders by id after ``after``, in the caller's
    transaction (which should commit at once: the orders stay locked until it does); the
    ids done, in order (none at the end)."""
    orders = (await session.execute(_BATCH_OF_ORDERS, {"after": after, "limit": limit})).all()
    ids = [order.id for order in orders]
    if not ids:
        return ids
    lines: dict[uuid.UUID, list[LineView]] = {}
    for line in await session.execute(_LINES_OF, {"ids": ids}):
        lines.setdefault(line.order_id, []).append(
            {
                "item_id": str(line.item_id),
                "name": line.name,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
        )
    rows = [
        view_row(
            order,
            lines.get(order.id, []),
            Step(order.type, order.sequence, order.occurred_at) if order.type else None,
        )
        for order in orders
    ]
    await session.execute(_FORGET, {"ids": ids})
    await session.execute(_INSERT, rows)
    return ids


async def rebuild(
    sessions: async_sessionmaker[AsyncSession],
    *,
    batch: int = 500,
    advance: Callable[[int], None] | None = None,
) -> int:
    """Rebuild every order's row, one transaction per batch; ``advance(n)`` after each
    batch of ``n`` orders. Returns how many orders were projected."""
    done, after = 0, uuid.UUID(int=0)
    while True:
        async with sessions() as session, session.begin():
            ids = await rebuild_batch(session, after=after, limit=batch)
        if not ids:
            return done
        done, after = done + len(ids), ids[-1]
        if advance is not None:
            advance(len(ids))
