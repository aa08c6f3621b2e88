"""The read model's rows as stored, and the rows the write model implies (for the tests of
``order_views``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from orderly.container import Container
from orderly.models import Item, Order, order_views


async def projected_views(container: Container) -> dict[uuid.UUID, dict[str, Any]]:
    """Every row of ``order_views``, by order id."""
    async with container.sessions.writer() as session:
        rows = await session.execute(select(order_views))
        return {row.order_id: dict(row._mapping) for row in rows}


async def expected_views(container: Container) -> dict[uuid.UUID, dict[str, Any]]:
    """What each order's row must hold, read from the orders, their lines, the items and
    their timelines."""
    async with container.sessions.writer() as session:
        orders = await session.scalars(
            select(Order).options(selectinload(Order.lines), selectinload(Order.timeline))
        )
        names = {row.id: row.name for row in await session.execute(select(Item.id, Item.name))}
        expected = {}
        for order in orders:
            last = order.timeline[-1] if order.timeline else None
            assert last is None or last.sequence == order.timeline_position
            expected[order.id] = {
                "order_id": order.id,
                "user_id": order.user_id,
                "status": order.status.value,
                "total_minor": order.total_minor,
                "currency": order.currency,
                "lines": [
                    {
                        "item_id": str(line.item_id),
                        "name": names[line.item_id],
                        "quantity": line.quantity,
                        "unit_price_minor": line.unit_price_minor,
                    }
                    for line in order.lines
                ],
                "last_step_type": last.type if last else None,
                "last_step_sequence": last.sequence if last else None,
                "last_step_at": last.occurred_at if last else None,
                "created_at": order.created_at,
                "updated_at": order.updated_at,
            }
        return expected
