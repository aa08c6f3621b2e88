"""A small shop for the order and payment service tests: a fake unit of work with two items,
the services over it, and the fake payment provider served in-process."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from orderly.fakes.payment_provider import ProviderState, create_provider_app
from orderly.integrations.breaker import CircuitBreaker
from orderly.integrations.payments import PaymentProvider, RetryPolicy
from orderly.models import Item, Role, User
from orderly.services.orders import OrderService
from orderly.services.payments import PaymentService
from tests.unit.fakes import FakeUnitOfWork

BUYER = User(id=uuid.uuid4(), email="b@example.com", full_name="B", role=Role.CUSTOMER)
OTHER = User(id=uuid.uuid4(), email="o@example.com", full_name="O", role=Role.CUSTOMER)
ADMIN = User(id=uuid.uuid4(), email="a@example.com", full_name="A", role=Role.ADMIN)


@dataclass
class Shop:
    uow: FakeUnitOfWork
    orders: OrderService
    payments: PaymentService
    provider: ProviderState
    cup: uuid.UUID  # 5 in stock
    pot: uuid.UUID  # 1 in stock

    def stock(self, item_id: uuid.UUID) -> int:
        return self.uow.items.rows[item_id].stock


def open_shop() -> Shop:
    uow = FakeUnitOfWork()
    ids = []
    for sku, stock in (("CUP", 5), ("POT", 1)):
        item = Item(
            id=uuid.uuid4(), sku=sku, name=sku, price_minor=300, currency="EUR", stock=stock
        )
        item.is_active = True
        uow.items.add(item)
        ids.append(item.id)
    app = create_provider_app()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")
    provider = PaymentProvider(
        http,
        breaker=CircuitBreaker("payments", failure_threshold=50, reset_timeout=1),
        retry=RetryPolicy(attempts=2, initial_backoff=0.001, max_backoff=0.001),
    )
    state: ProviderState = app.state.provider
    return Shop(
        uow=uow,
        orders=OrderService(uow, max_quantity=10, max_lines=3),
        payments=PaymentService(uow, provider=provider),
        provider=state,
        cup=ids[0],
        pot=ids[1],
    )
