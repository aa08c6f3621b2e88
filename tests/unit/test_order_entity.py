"""The order state machine, every state against every action, the events each change
records, and totals."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from orderly.events.types import (
    Actor,
    ActorKind,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFulfilled,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderRefunded,
    OrderRefundFailed,
    OrderRefundRequested,
)
from orderly.models import Item, LineRequest, Order, OrderStatus
from orderly.models.order import IllegalTransition, MixedCurrencies, OrderAction

S, A = OrderStatus, OrderAction
CUSTOMER = Actor(ActorKind.CUSTOMER, uuid.uuid4())
ADMIN = Actor(ActorKind.ADMIN, uuid.uuid4())
ALLOWED = {
    (S.PENDING_PAYMENT, A.MARK_PAID): S.PAID,
    (S.PENDING_PAYMENT, A.MARK_PAYMENT_FAILED): S.PAYMENT_FAILED,
    (S.PENDING_PAYMENT, A.CANCEL): S.CANCELLED,
    (S.PENDING_PAYMENT, A.EXPIRE): S.EXPIRED,
    (S.PAID, A.FULFIL): S.FULFILLED,
    (S.PAID, A.CANCEL): S.CANCELLING,
}
# The actions that only the state machine decides (refunds are tested below).
ACTIONS: dict[OrderAction, Callable[[Order], object]] = {
    A.MARK_PAID: lambda o: o.mark_paid(actor=Actor.worker(), payment_reference="pi_1"),
    A.MARK_PAYMENT_FAILED: lambda o: o.mark_payment_failed(actor=Actor.worker(), reason="no"),
    A.CANCEL: lambda o: o.cancel(actor=CUSTOMER, reason="changed my mind"),
    A.EXPIRE: lambda o: o.expire(actor=Actor.system(), reason="late"),
    A.FULFIL: lambda o: o.fulfil(actor=ADMIN),
}


def item(price: int = 250, currency: str = "EUR") -> Item:
    return Item(id=uuid.uuid4(), sku="X", name="X", price_minor=price, currency=currency, stock=9)


def placed() -> Order:
    assert CUSTOMER.id is not None
    return Order.place(actor=CUSTOMER, user_id=CUSTOMER.id, lines=[LineRequest(item(), 1)])


def order_in(status: OrderStatus) -> Order:
    order = placed()
    order.collect_events()
    order.status = status
    return order


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_state_against_every_action(status: OrderStatus, action: OrderAction) -> None:
    order = order_in(status)
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            ACTIONS[action](order)
        assert status.value in caught.value.detail
        assert order.status is status
        assert order.collect_events() == []  # a refused change records nothing
    else:
        ACTIONS[action](order)
        assert order.status is expected
        [event] = order.collect_events()
        assert isinstance(event, OrderEvent)
        assert (event.from_status, event.to_status) == (status.value, expected.value)
        assert (event.order_id, event.user_id) == (order.id, order.user_id)


@pytest.mark.parametrize(
    ("status", "action", "kind", "actor", "reason"),
    [
        (S.PENDING_PAYMENT, A.MARK_PAID, OrderPaid, Actor.worker(), None),
        (S.PENDING_PAYMENT, A.MARK_PAYMENT_FAILED, OrderPaymentFailed, Actor.worker(), "no"),
        (S.PENDING_PAYMENT, A.CANCEL, OrderCancelled, CUSTOMER, "changed my mind"),
        (S.PAID, A.CANCEL, OrderRefundRequested, CUSTOMER, "changed my mind"),
        (S.PENDING_PAYMENT, A.EXPIRE, OrderExpired, Actor.system(), "late"),
        (S.PAID, A.FULFIL, OrderFulfilled, ADMIN, None),
    ],
)
def test_each_change_records_who_and_why(
    status: OrderStatus,
    action: OrderAction,
    kind: type[OrderEvent],
    actor: Actor,
    reason: str | None,
) -> None:
    order = order_in(status)
    ACTIONS[action](order)
    [event] = order.collect_events()
    assert type(event) is kind
    assert (event.actor, event.reason) == (actor, reason)
    assert order.collect_events() == []  # collected once


def test_placing_records_order_placed_by_the_customer() -> None:
    order = placed()
    [event] = order.collect_events()
    assert isinstance(event, OrderPlaced)
    assert (event.actor, event.from_status, event.to_status) == (CUSTOMER, None, "pending_payment")


def test_cancelling_a_paid_order_asks_for_the_whole_refund() -> None:
    order = order_in(S.PAID)
    order.cancel(actor=ADMIN, reason="out of stock")
    [event] = order.collect_events()
    assert isinstance(event, OrderRefundRequested)
    assert (event.amount_minor, event.currency) == (order.total_minor, "EUR")
    assert order.holds_stock  # released only when the refund is made


def test_a_refund_finishes_the_cancellation() -> None:
    order = order_in(S.CANCELLING)
    order.refunded(actor=Actor.worker(), refund_reference="re_1")
    assert order.status is S.CANCELLED
    assert not order.holds_stock
    [event] = order.collect_events()
    assert isinstance(event, OrderCancelled)
    assert (event.refunded, event.refund_reference, event.from_status) == (
        True,
        "re_1",
        "cancelling",
    )


def test_a_refused_refund_keeps_the_order_paid_with_the_reason() -> None:
    order = order_in(S.CANCELLING)
    order.refund_failed(actor=Actor.worker(), reason="charge disputed")
    assert order.status is S.PAID
    [event] = order.collect_events()
    assert isinstance(event, OrderRefundFailed)
    assert (event.from_status, event.to_status, event.reason) == (
        "cancelling",
        "paid",
        "charge disputed",
    )


@pytest.mark.parametrize("status", [S.EXPIRED, S.CANCELLED, S.PAYMENT_FAILED])
def test_a_late_charge_on_an_ended_order_is_refunded_without_a_status_change(
    status: OrderStatus,
) -> None:
    order = order_in(status)
    order.request_refund(actor=Actor.worker(), reason="charged late")
    order.refunded(actor=Actor.worker(), refund_reference="re_2")
    requested, refunded = order.collect_events()
    assert isinstance(requested, OrderRefundRequested)
    assert isinstance(refunded, OrderRefunded)
    assert (refunded.from_status, refunded.to_status) == (status.value, status.value)
    assert order.status is status


@pytest.mark.parametrize("status", [S.PENDING_PAYMENT, S.PAID, S.CANCELLING, S.FULFILLED])
def test_an_order_that_keeps_its_charge_cannot_ask_for_a_late_refund(
    status: OrderStatus,
) -> None:
    with pytest.raises(IllegalTransition):
        order_in(status).request_refund(actor=Actor.worker(), reason="x")


def test_total_is_computed_from_current_prices() -> None:
    cup, pot = item(250), item(1999)
    order = Order.place(
        actor=CUSTOMER,
        user_id=uuid.uuid4(),
        lines=[LineRequest(cup, 3), LineRequest(pot, 2)],
        payment_method="pm",
    )
    assert order.total_minor == 3 * 250 + 2 * 1999
    assert order.currency == "EUR"
    assert [line.unit_price_minor for line in order.lines] == [250, 1999]
    assert [line.position for line in order.lines] == [0, 1]
    assert order.status is S.PENDING_PAYMENT


def test_one_currency_per_order() -> None:
    with pytest.raises(MixedCurrencies):
        Order.place(
            actor=CUSTOMER,
            user_id=uuid.uuid4(),
            lines=[LineRequest(item(), 1), LineRequest(item(1, "USD"), 1)],
        )
