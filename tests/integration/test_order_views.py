"""The orders' read model on SQLite and PostgreSQL: what the API reads after each kind of
change, the rebuild from the write tables, and migration 0010's projection of the orders
that existed before it."""

from __future__ import annotations

import asyncio
import uuid

from pydantic_core import to_json
from sqlalchemy import delete

from orderly import migrate
from orderly.container import Container
from orderly.events.types import Actor
from orderly.models import order_views
from orderly.projections import orders as projection
from orderly.schemas.orders import OrderRead, order_read_json
from orderly.services.orders import NewLine
from tests.conftest import Account
from tests.integration.order_views import expected_views, projected_views
from tests.integration.test_items import add_item


async def _orders_in_every_state(container: Container, customer: Account, admin: Account) -> None:
    first = await add_item(container, "VIEW-1", name="Teapot", price_minor=1250, stock=50)
    second = await add_item(container, "VIEW-2", name="Cups", price_minor=300, stock=50)
    orders, payments = container.orders, container.payments

    async def place(*quantities: int) -> uuid.UUID:
        lines = [
            NewLine(item_id=i.id, quantity=q)
            for i, q in zip((first, second), quantities, strict=False)
        ]
        placed = await orders.place(customer=customer.user, lines=lines)
        return placed.order.id

    worker = Actor.worker()
    pending, paid, failed, cancelled, refunded, fulfilled = [await place(1, 2) for _ in range(6)]
    for order_id in (paid, cancelled, refunded, fulfilled):
        await payments.charge(order_id=order_id, actor=worker, payment_method="pm_card_visa")
    await payments.charge(order_id=failed, actor=worker, payment_method="pm_card_chargeDeclined")
    await orders.cancel(actor=customer.user, order_id=pending, reason="not now")
    await orders.cancel(actor=customer.user, order_id=refunded, reason="changed my mind")
    await payments.refund(order_id=refunded, actor=worker)
    await orders.fulfil(actor=admin.user, order_id=fulfilled)
    await orders.add_note(actor=admin.user, order_id=paid, note="gift wrap")
    await orders.cancel(actor=admin.user, order_id=cancelled)
    await place(3)


async def test_the_read_model_is_what_the_orders_say_and_a_rebuild_keeps_it(
    container: Container, customer: Account, admin: Account
) -> None:
    await _orders_in_every_state(container, customer, admin)
    incremental = await projected_views(container)
    assert incremental == await expected_views(container)
    assert {view["status"] for view in incremental.values()} == {
        "pending_payment",
        "paid",
        "payment_failed",
        "cancelling",
        "cancelled",
        "fulfilled",
    }
    assert {line["name"] for view in incremental.values() for line in view["lines"]} == {
        "Teapot",
        "Cups",
    }

    assert await projection.rebuild(container.sessions.writer, batch=3) == len(incremental)
    assert await projected_views(container) == incremental
    async with container.sessions.writer() as session, session.begin():
        await session.execute(delete(order_views))
    assert await projected_views(container) == {}
    await projection.rebuild(container.sessions.writer)
    assert await projected_views(container) == incremental


async def test_the_order_list_renders_rows_as_order_read_would(
    container: Container, customer: Account, admin: Account
) -> None:
    """The REST order list and order render read-model rows without validating them again
    (``order_read_json``): byte for byte what ``OrderRead`` gives for the same rows."""
    await _orders_in_every_state(container, customer, admin)
    views, total = await container.orders.list_orders(actor=admin.user, limit=100, offset=0)
    assert total == len(views) == 7
    for view in views:
        assert (
            to_json(order_read_json(view))
            == OrderRead.model_validate(view).model_dump_json(by_alias=True).encode()
        )


async def test_migration_0010_projects_the_orders_placed_before_it(
    container: Container, database_url: str, customer: Account, admin: Account
) -> None:
    await _orders_in_every_state(container, customer, admin)
    incremental = await projected_views(container)
    await asyncio.to_thread(migrate.downgrade, database_url, "0010-1")  # drops order_views
    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await projected_views(container) == incremental
