"""OrderService rules on in-memory fakes: placing, visibility, cancelling, expiring."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from orderly.events.types import (
    ActorKind,
    OrderCancelled,
    OrderExpired,
    OrderPlaced,
    OrderRefundRequested,
)
from orderly.models import OrderStatus
from orderly.services.orders import (
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrderLines,
    ItemUnavailable,
    NewLine,
    OrderNotFound,
)
from tests.unit.shop import ADMIN, BUYER, OTHER, Shop, open_shop

Lines = Callable[[uuid.UUID, uuid.UUID], list[NewLine]]


@pytest.fixture
def shop() -> Shop:
    return open_shop()


async def test_place_reserves_totals_and_records_the_event(shop: Shop) -> None:
    placed = await shop.orders.place(
        customer=BUYER, lines=[NewLine(shop.cup, 2), NewLine(shop.pot, 1)]
    )
    assert placed.created
    assert placed.order.total_minor == 900
    assert (shop.stock(shop.cup), shop.stock(shop.pot)) == (3, 0)
    [event] = shop.uow.events
    assert isinstance(event, OrderPlaced)
    assert (event.order_id, event.actor.kind, event.actor.id) == (
        placed.order.id,
        ActorKind.CUSTOMER,
        BUYER.id,
    )


@pytest.mark.parametrize(
    ("make_lines", "error", "field"),
    [
        (lambda cup, pot: [], InvalidOrderLines, "lines"),
        (lambda cup, pot: [NewLine(cup, 1)] * 4, InvalidOrderLines, "lines"),
        (lambda cup, pot: [NewLine(cup, 1), NewLine(cup, 1)], InvalidOrderLines, "lines.1.item_id"),
        (lambda cup, pot: [NewLine(cup, 11)], InvalidOrderLines, "lines.0.quantity"),
        (lambda cup, pot: [NewLine(uuid.uuid4(), 1)], ItemUnavailable, "lines.0.item_id"),
        (
            lambda cup, pot: [NewLine(cup, 1), NewLine(pot, 2)],
            InsufficientStock,
            "lines.1.quantity",
        ),
    ],
)
async def test_bad_lines_name_the_line(
    shop: Shop, make_lines: Lines, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as caught:
        await shop.orders.place(customer=BUYER, lines=make_lines(shop.cup, shop.pot))
    assert getattr(caught.value, "field", None) == field
    assert shop.uow.commits == 0
    assert shop.uow.orders.rows == {}
    assert shop.uow.events == []


async def test_idempotency_key_replays_or_refuses(shop: Shop) -> None:
    line = [NewLine(shop.cup, 1)]
    first = await shop.orders.place(customer=BUYER, lines=line, idempotency_key="k")
    again = await shop.orders.place(customer=BUYER, lines=line, idempotency_key="k")
    assert (first.created, again.created, again.order.id) == (True, False, first.order.id)
    with pytest.raises(IdempotencyKeyReused):
        await shop.orders.place(customer=BUYER, lines=[NewLine(shop.cup, 2)], idempotency_key="k")
    assert len(shop.uow.orders.rows) == 1
    assert len(shop.uow.events) == 1  # one order, one OrderPlaced


async def test_only_the_owner_or_an_admin_sees_an_order(shop: Shop) -> None:
    order = (await shop.orders.place(customer=BUYER, lines=[NewLine(shop.cup, 1)])).order
    assert (await shop.orders.get_order(actor=ADMIN, order_id=order.id)).id == order.id
    with pytest.raises(OrderNotFound):
        await shop.orders.get_order(actor=OTHER, order_id=order.id)
    with pytest.raises(OrderNotFound):
        await shop.orders.cancel(actor=OTHER, order_id=order.id)
    assert order.status is OrderStatus.PENDING_PAYMENT


async def test_cancelling_an_unpaid_order_releases_its_stock_at_once(shop: Shop) -> None:
    order = (await shop.orders.place(customer=BUYER, lines=[NewLine(shop.cup, 2)])).order
    cancelled = await shop.orders.cancel(actor=BUYER, order_id=order.id, reason="too slow")
    assert cancelled.status is OrderStatus.CANCELLED
    assert shop.stock(shop.cup) == 5
    event = shop.uow.events[-1]
    assert isinstance(event, OrderCancelled)
    assert (event.refunded, event.reason, event.actor.id) == (False, "too slow", BUYER.id)


async def test_cancelling_a_paid_order_waits_for_the_refund(shop: Shop) -> None:
    order = (
        await shop.orders.place(
            customer=BUYER, lines=[NewLine(shop.cup, 2)], payment_method="pm_card_visa"
        )
    ).order
    await shop.payments.charge(order_id=order.id, actor=BUYER.as_actor())
    requests_before = shop.provider.requests
    cancelling = await shop.orders.cancel(actor=ADMIN, order_id=order.id, reason="damaged")
    assert cancelling.status is OrderStatus.CANCELLING
    assert shop.provider.requests == requests_before  # no provider call in the use case
    assert shop.stock(shop.cup) == 3  # held until the refund is made
    event = shop.uow.events[-1]
    assert isinstance(event, OrderRefundRequested)
    assert (event.actor.kind, event.reason, event.amount_minor) == (ActorKind.ADMIN, "damaged", 600)


async def test_expiry_releases_stock_and_records_the_system_as_actor(shop: Shop) -> None:
    order = (await shop.orders.place(customer=BUYER, lines=[NewLine(shop.cup, 1)])).order
    order.created_at -= timedelta(hours=2)
    assert await shop.orders.expire_unpaid(older_than=timedelta(hours=1)) == 1
    assert order.status is OrderStatus.EXPIRED
    assert shop.stock(shop.cup) == 5
    event = shop.uow.events[-1]
    assert isinstance(event, OrderExpired)
    assert (event.actor.kind, event.actor.id) == (ActorKind.SYSTEM, None)
    assert event.reason
