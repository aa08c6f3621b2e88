"""The order state machine, every state against every action, and totals."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from orderly.models import Item, LineRequest, Order, OrderStatus
from orderly.models.order import IllegalTransition, MixedCurrencies, OrderAction

S, A = OrderStatus, OrderAction
ALLOWED = {
    (S.PENDING_PAYMENT, A.MARK_PAID): S.PAID,
    (S.PENDING_PAYMENT, A.MARK_PAYMENT_FAILED): S.PAYMENT_FAILED,
    (S.PENDING_PAYMENT, A.CANCEL): S.CANCELLED,
    (S.PENDING_PAYMENT, A.EXPIRE): S.EXPIRED,
    (S.PAID, A.FULFIL): S.FULFILLED,
    (S.PAID, A.CANCEL): S.CANCELLED,
}
ACTIONS: dict[OrderAction, Callable[[Order], object]] = {
    A.MARK_PAID: Order.mark_paid,
    A.MARK_PAYMENT_FAILED: Order.mark_payment_failed,
    A.CANCEL: Order.cancel,
    A.EXPIRE: Order.expire,
    A.FULFIL: Order.fulfil,
}


def item(price: int = 250, currency: str = "EUR") -> Item:
    return Item(id=uuid.uuid4(), sku="X", name="X", price_minor=price, currency=currency, stock=9)


def order_in(status: OrderStatus) -> Order:
    order = Order.place(user_id=uuid.uuid4(), lines=[LineRequest(item(), 1)])
    order.status = status
    return order


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("action", list(OrderAction))
def test_every_state_against_every_action(status: OrderStatus, action: OrderAction) -> None:
    order = order_in(status)
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            ACTIONS[action](order)
        assert status.value in caught.value.detail
        assert order.status is status
    else:
        ACTIONS[action](order)
        assert order.status is expected


def test_cancel_reports_the_previous_state() -> None:
    assert order_in(S.PAID).cancel() is S.PAID
    assert order_in(S.PENDING_PAYMENT).cancel() is S.PENDING_PAYMENT


def test_total_is_computed_from_current_prices() -> None:
    cup, pot = item(250), item(1999)
    order = Order.place(
        user_id=uuid.uuid4(), lines=[LineRequest(cup, 3), LineRequest(pot, 2)], payment_method="pm"
    )
    assert order.total_minor == 3 * 250 + 2 * 1999
    assert order.currency == "EUR"
    assert [line.unit_price_minor for line in order.lines] == [250, 1999]
    assert [line.position for line in order.lines] == [0, 1]
    assert order.status is S.PENDING_PAYMENT


def test_one_currency_per_order() -> None:
    with pytest.raises(MixedCurrencies):
        Order.place(
            user_id=uuid.uuid4(), lines=[LineRequest(item(), 1), LineRequest(item(1, "USD"), 1)]
        )
