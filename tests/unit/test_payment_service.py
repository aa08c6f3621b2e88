"""PaymentService on in-memory fakes, against the fake provider served in-process: charging
once, declines, an unreachable provider, refunds made and refused, late charges."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from orderly.events.types import (
    Actor,
    OrderCancelled,
    OrderPaid,
    OrderPaymentFailed,
    OrderRefunded,
    OrderRefundFailed,
    OrderRefundRequested,
)
from orderly.models import Order, OrderStatus, PaymentStatus
from orderly.models.order import IllegalTransition
from orderly.services.orders import NewLine, OrderNotFound
from orderly.services.payments import PaymentMethodMissing, PaymentProviderDown
from tests.unit.shop import ADMIN, BUYER, OTHER, Shop, open_shop

WORKER = Actor.worker()


@pytest.fixture
def shop() -> Shop:
    return open_shop()


async def place(shop: Shop, method: str | None = "pm_card_visa", quantity: int = 1) -> Order:
    lines = [NewLine(shop.cup, quantity)]
    return (await shop.orders.place(customer=BUYER, lines=lines, payment_method=method)).order


async def test_charge_is_idempotent(shop: Shop) -> None:
    order = await place(shop)
    assert await shop.payments.charge(order_id=order.id, actor=WORKER) is OrderStatus.PAID
    assert await shop.payments.charge(order_id=order.id, actor=WORKER) is OrderStatus.PAID
    assert sum(shop.provider.charges.values()) == 1
    paid = [e for e in shop.uow.events if isinstance(e, OrderPaid)]
    assert len(paid) == 1
    assert paid[0].payment_reference.startswith("pi_")
    assert paid[0].actor == WORKER


async def test_a_decline_fails_the_order_and_releases_its_stock(shop: Shop) -> None:
    order = await place(shop, "pm_card_chargeDeclined", quantity=2)
    status = await shop.payments.charge(order_id=order.id, actor=WORKER)
    assert status is OrderStatus.PAYMENT_FAILED
    assert shop.stock(shop.cup) == 5
    assert isinstance(shop.uow.events[-1], OrderPaymentFailed)
    with pytest.raises(IllegalTransition):
        await shop.payments.charge(order_id=order.id, actor=WORKER)


async def test_no_method_is_refused_with_the_field(shop: Shop) -> None:
    order = await place(shop, method=None)
    with pytest.raises(PaymentMethodMissing) as caught:
        await shop.payments.charge(order_id=order.id, actor=WORKER)
    assert caught.value.field == "payment_method"


async def test_unreachable_provider_leaves_the_order_pending(shop: Shop) -> None:
    order = await place(shop, method=None)
    with pytest.raises(PaymentProviderDown):
        await shop.payments.charge(
            order_id=order.id, actor=WORKER, payment_method="pm_card_flaky_3"
        )
    assert order.status is OrderStatus.PENDING_PAYMENT
    payment = shop.uow.payments.rows[order.id]
    assert payment.attempts == 1
    assert payment.last_error
    assert await shop.payments.charge(order_id=order.id, actor=WORKER) is OrderStatus.PAID


async def test_paying_from_the_api_checks_who_asks(shop: Shop) -> None:
    order = await place(shop)
    with pytest.raises(OrderNotFound):
        await shop.payments.pay(actor=OTHER, order_id=order.id)
    assert shop.provider.requests == 0
    paid = await shop.payments.pay(actor=BUYER, order_id=order.id)
    assert paid.status is OrderStatus.PAID
    assert [line.quantity for line in paid.lines] == [1]


async def test_a_refund_finishes_a_cancellation_once(shop: Shop) -> None:
    order = await place(shop, quantity=2)
    await shop.payments.charge(order_id=order.id, actor=WORKER)
    await shop.orders.cancel(actor=ADMIN, order_id=order.id, reason="damaged")
    await shop.payments.refund(order_id=order.id, actor=WORKER)
    await shop.payments.refund(order_id=order.id, actor=WORKER)  # redelivered: nothing more
    assert order.status is OrderStatus.CANCELLED
    assert shop.stock(shop.cup) == 5
    assert sum(shop.provider.refunds.values()) == 1
    payment = shop.uow.payments.rows[order.id]
    assert payment.status is PaymentStatus.REFUNDED
    event = shop.uow.events[-1]
    assert isinstance(event, OrderCancelled)
    assert (event.refunded, event.refund_reference) == (True, payment.refund_reference)


async def test_a_refused_refund_puts_the_order_back_to_paid(shop: Shop) -> None:
    order = await place(shop)
    await shop.payments.charge(order_id=order.id, actor=WORKER)
    shop.uow.payments.rows[order.id].provider_reference = "pi_unknown_to_the_provider"
    await shop.orders.cancel(actor=BUYER, order_id=order.id)
    await shop.payments.refund(order_id=order.id, actor=WORKER)
    assert order.status is OrderStatus.PAID
    assert shop.stock(shop.cup) == 4  # still sold
    event = shop.uow.events[-1]
    assert isinstance(event, OrderRefundFailed)
    assert "refused" in (event.reason or "")
    assert shop.uow.payments.rows[order.id].status is PaymentStatus.SUCCEEDED


async def test_a_refund_the_provider_cannot_make_now_is_retried_later(shop: Shop) -> None:
    order = await place(shop)
    await shop.payments.charge(order_id=order.id, actor=WORKER)
    await shop.orders.cancel(actor=BUYER, order_id=order.id)
    shop.provider.down = True
    with pytest.raises(PaymentProviderDown):
        await shop.payments.refund(order_id=order.id, actor=WORKER)
    assert order.status is OrderStatus.CANCELLING
    shop.provider.down = False
    await shop.payments.refund(order_id=order.id, actor=WORKER)
    now = await shop.orders.get_order(actor=BUYER, order_id=order.id)
    assert now.status is OrderStatus.CANCELLED


async def test_a_charge_that_lands_after_expiry_is_refunded(shop: Shop) -> None:
    order = await place(shop)
    order.created_at -= timedelta(hours=2)
    shop.provider.latency_ms = 200  # the order expires while the provider is charging it

    async def expire_meanwhile() -> int:
        await asyncio.sleep(0.05)
        return await shop.orders.expire_unpaid(older_than=timedelta(hours=1))

    status, expired = await asyncio.gather(
        shop.payments.charge(order_id=order.id, actor=WORKER), expire_meanwhile()
    )
    assert (status, expired) == (OrderStatus.EXPIRED, 1)
    assert sum(shop.provider.charges.values()) == 1
    assert isinstance(shop.uow.events[-1], OrderRefundRequested)
    await shop.payments.refund(order_id=order.id, actor=WORKER)
    assert isinstance(shop.uow.events[-1], OrderRefunded)
    assert shop.uow.payments.rows[order.id].status is PaymentStatus.REFUNDED
    assert order.status is OrderStatus.EXPIRED
    assert sum(shop.provider.refunds.values()) == 1
