"""OrderService rules on in-memory fakes (the provider is the fake app, served in-process)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from orderly.fakes.payment_provider import create_provider_app
from orderly.integrations.breaker import CircuitBreaker
from orderly.integrations.payments import PaymentProvider, RetryPolicy
from orderly.models import Item, OrderStatus, Role, User
from orderly.models.order import IllegalTransition
from orderly.services.orders import (
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrderLines,
    ItemUnavailable,
    NewLine,
    OrderNotFound,
    OrderService,
    PaymentProviderDown,
)
from tests.unit.fakes import FakeUnitOfWork

BUYER = User(id=uuid.uuid4(), email="b@example.com", full_name="B", role=Role.CUSTOMER)
OTHER = User(id=uuid.uuid4(), email="o@example.com", full_name="O", role=Role.CUSTOMER)
ADMIN = User(id=uuid.uuid4(), email="a@example.com", full_name="A", role=Role.ADMIN)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    for sku, stock in (("CUP", 5), ("POT", 1)):
        item = Item(
            id=uuid.uuid4(), sku=sku, name=sku, price_minor=300, currency="EUR", stock=stock
        )
        item.is_active = True
        fake.items.add(item)
    return fake


@pytest.fixture
def service(uow: FakeUnitOfWork) -> OrderService:
    app = create_provider_app()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")
    payments = PaymentProvider(
        http,
        breaker=CircuitBreaker("payments", failure_threshold=50, reset_timeout=1),
        retry=RetryPolicy(attempts=2, initial_backoff=0.001, max_backoff=0.001),
    )
    service = OrderService(uow, payments=payments, max_quantity=10, max_lines=3)
    service.provider_state = app.state.provider  # type: ignore[attr-defined]
    return service


def ids(uow: FakeUnitOfWork) -> list[uuid.UUID]:
    return [item.id for item in uow.items.rows.values()]


async def test_place_reserves_and_totals(service: OrderService, uow: FakeUnitOfWork) -> None:
    cup, pot = ids(uow)
    placed = await service.place(user_id=BUYER.id, lines=[NewLine(cup, 2), NewLine(pot, 1)])
    assert placed.created
    assert placed.order.total_minor == 900
    assert [i.stock for i in uow.items.rows.values()] == [3, 0]


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
    service: OrderService, uow: FakeUnitOfWork, make_lines: object, error: type, field: str
) -> None:
    cup, pot = ids(uow)
    with pytest.raises(error) as caught:
        await service.place(user_id=BUYER.id, lines=make_lines(cup, pot))  # type: ignore[operator]
    assert caught.value.field == field
    assert uow.commits == 0
    assert uow.orders.rows == {}


async def test_idempotency_key_replays_or_refuses(
    service: OrderService, uow: FakeUnitOfWork
) -> None:
    cup, _ = ids(uow)
    first = await service.place(user_id=BUYER.id, lines=[NewLine(cup, 1)], idempotency_key="k")
    again = await service.place(user_id=BUYER.id, lines=[NewLine(cup, 1)], idempotency_key="k")
    assert (first.created, again.created, again.order.id) == (True, False, first.order.id)
    with pytest.raises(IdempotencyKeyReused):
        await service.place(user_id=BUYER.id, lines=[NewLine(cup, 2)], idempotency_key="k")
    assert len(uow.orders.rows) == 1


async def test_only_the_owner_or_an_admin_sees_an_order(
    service: OrderService, uow: FakeUnitOfWork
) -> None:
    cup, _ = ids(uow)
    order = (await service.place(user_id=BUYER.id, lines=[NewLine(cup, 1)])).order
    assert (await service.get(actor=ADMIN, order_id=order.id)).id == order.id
    with pytest.raises(OrderNotFound):
        await service.get(actor=OTHER, order_id=order.id)
    with pytest.raises(OrderNotFound):
        await service.cancel(actor=OTHER, order_id=order.id)


async def test_pay_is_idempotent_and_decline_releases(
    service: OrderService, uow: FakeUnitOfWork
) -> None:
    cup, pot = ids(uow)
    good = (
        await service.place(
            user_id=BUYER.id, lines=[NewLine(cup, 1)], payment_method="pm_card_visa"
        )
    ).order
    assert await service.pay(order_id=good.id) is OrderStatus.PAID
    assert await service.pay(order_id=good.id) is OrderStatus.PAID
    assert sum(service.provider_state.charges.values()) == 1  # type: ignore[attr-defined]

    bad = (await service.place(user_id=BUYER.id, lines=[NewLine(pot, 1)])).order
    failed = await service.pay(order_id=bad.id, payment_method="pm_card_chargeDeclined")
    assert failed is OrderStatus.PAYMENT_FAILED
    assert uow.items.rows[pot].stock == 1
    with pytest.raises(IllegalTransition):
        await service.pay(order_id=bad.id)


async def test_unreachable_provider_leaves_the_order_pending(
    service: OrderService, uow: FakeUnitOfWork
) -> None:
    cup, _ = ids(uow)
    order = (await service.place(user_id=BUYER.id, lines=[NewLine(cup, 1)])).order
    with pytest.raises(PaymentProviderDown):
        await service.pay(order_id=order.id, payment_method="pm_card_flaky_3")
    assert order.status is OrderStatus.PENDING_PAYMENT
    payment = uow.orders.payments[order.id]
    assert payment.attempts == 1
    assert payment.last_error
    assert await service.pay(order_id=order.id) is OrderStatus.PAID  # 4th attempt
