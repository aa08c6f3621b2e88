"""SqlUnitOfWork on the real databases: read-only units never write; what entities record
reaches the outbox with their change, and only then; column defaults are never skipped."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from orderly.container import Container
from orderly.events.types import Actor
from orderly.models import Order, OrderLine, OrderStatus, OutboxMessage, Payment, PaymentStatus
from orderly.models.base import MissingColumnValue
from orderly.services.orders import NewLine
from orderly.unit_of_work import ReadOnlyUnitOfWork
from tests.conftest import Account
from tests.integration.test_items import add_item


async def test_a_read_only_unit_reads_but_refuses_to_commit(container: Container) -> None:
    item = await container.catalog.create_item(
        sku="RO-1", name="Read me", price_minor=100, currency="EUR", stock=2
    )
    async with container.uow(read_only=True) as uow:
        found = await uow.items.get(item.id)
        assert found is not None
        found.stock = 99  # a change in a read-only unit...
        with pytest.raises(ReadOnlyUnitOfWork):
            await uow.commit()
    async with container.uow(read_only=True) as uow:
        again = await uow.items.get(item.id)
    assert again is not None
    assert again.stock == 2  # ...is never written


async def placed_order(container: Container, customer: Account) -> uuid.UUID:
    item = await add_item(container, f"UOW-{uuid.uuid4().hex[:6]}", stock=3)
    placed = await container.orders.place(
        customer=customer.user, lines=[NewLine(item_id=item.id, quantity=1)]
    )
    return placed.order.id


async def outbox_events(container: Container, order_id: uuid.UUID) -> list[str]:
    async with container.session_factory() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))
        return [row.event_type for row in rows if row.payload.get("order_id") == str(order_id)]


async def test_a_change_made_through_the_entity_alone_reaches_the_outbox(
    container: Container, customer: Account
) -> None:
    order_id = await placed_order(container, customer)
    async with container.uow() as uow:
        order = await uow.orders.get_for_update(order_id)
        assert order is not None
        order.expire(actor=Actor.system(), reason="test")  # no service, no emit: the entity
        await uow.commit()
    assert await outbox_events(container, order_id) == ["OrderPlaced", "OrderExpired"]
    async with container.session_factory() as session:
        row = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.event_type == "OrderExpired")
            )
        ).one()
    assert row.payload["actor"] == {"kind": "system", "id": None}
    assert (row.payload["from_status"], row.payload["to_status"]) == ("pending_payment", "expired")
    assert (row.attempts, row.published_at) == (0, None)  # the outbox's own column defaults


async def test_a_change_not_committed_leaves_no_event(
    container: Container, customer: Account
) -> None:
    order_id = await placed_order(container, customer)
    async with container.uow() as uow:
        order = await uow.orders.get_for_update(order_id)
        assert order is not None
        order.cancel(actor=customer.user.as_actor())
    async with container.uow() as uow:  # a later unit that commits writes nothing of it
        again = await uow.orders.get(order_id)
        assert again is not None
        await uow.commit()
    assert again.status is OrderStatus.PENDING_PAYMENT
    assert await outbox_events(container, order_id) == ["OrderPlaced"]


async def test_column_defaults_that_live_only_in_the_model_are_applied(
    container: Container, customer: Account
) -> None:
    """An entity saved with columns left to their model defaults (the timestamps, the
    status) gets those defaults, whichever repository saves it: none is written as NULL; a
    NOT NULL column left without a value and without a default fails loudly, naming it."""
    item = await add_item(container, f"DEF-{uuid.uuid4().hex[:6]}", stock=3)
    order_id = uuid.uuid4()
    order = Order(
        id=order_id,
        user_id=customer.user.id,
        total_minor=item.price_minor,
        currency=item.currency,
        lines=[
            OrderLine(
                id=uuid.uuid4(),
                order_id=order_id,
                position=0,
                item_id=item.id,
                quantity=1,
                unit_price_minor=item.price_minor,
            )
        ],
    )
    payment = Payment(id=uuid.uuid4(), order_id=order.id, amount_minor=1, currency="EUR")
    async with container.uow() as uow:
        uow.orders.add(order)
        uow.payments.add(payment)
        await uow.commit()
    async with container.uow(read_only=True) as uow:
        saved = await uow.orders.get(order.id)
        saved_payment = await uow.payments.for_order(order.id)
    assert saved is not None
    assert saved_payment is not None
    assert saved.status is OrderStatus.PENDING_PAYMENT
    assert saved.created_at is not None
    assert saved.updated_at is not None
    assert [line.quantity for line in saved.lines] == [1]
    assert (saved_payment.status, saved_payment.attempts) == (PaymentStatus.PENDING, 0)


async def test_a_required_column_left_empty_is_refused_by_name(
    container: Container, customer: Account
) -> None:
    line = OrderLine(id=uuid.uuid4(), position=0, item_id=uuid.uuid4(), quantity=1)
    async with container.uow() as uow:
        uow.orders.add(
            Order(
                id=uuid.uuid4(),
                user_id=customer.user.id,
                total_minor=0,
                currency="EUR",
                lines=[line],
            )
        )
        with pytest.raises(MissingColumnValue, match=r"order_lines\.order_id"):
            await uow.commit()
