"""Orders through the real services under Hypothesis's rule-based state machine.

Customers place orders, pay them with each test card of the fake provider (success, decline,
a transient failure the client retries through, one that outlasts the retries, a charge that
answers too late), cancel them (a paid one is refunded by the "worker" step), let them expire,
an admin fulfils them and edits stock, also while an order is being placed. After every step:

- stock on hand + stock held by orders that hold it = initial stock + admin adjustments;
- each order that keeps money has exactly one successful charge at the provider, and an order
  that never succeeded has none (the provider's own records, by idempotency key);
- refunds never exceed charges (at most one per charge, none without one);
- an order's total is the sum of its lines.

The examples run on SQLite (one migrated database, emptied per example) with the fake
provider served in process; the profile (tests/conftest.py) sets how many.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.core.errors import DomainError
from orderly.events.types import Actor
from orderly.fakes.payment_provider import ProviderState, create_provider_app
from orderly.integrations.breaker import CircuitBreaker
from orderly.integrations.payments import PaymentProvider, RetryPolicy
from orderly.models import Base, Item, Order, OrderLine, OrderStatus, Payment, Role, User
from orderly.services.orders import NewLine
from orderly.services.payments import PaymentService
from tests.conftest import PASSWORD, TEST_SECRET
from tests.databases import create_sqlite_database, migrate_to_head

T = TypeVar("T")
CARDS = [
    "pm_card_visa",
    "pm_card_chargeDeclined",
    "pm_card_flaky_1",  # one 503, then the retry succeeds
    "pm_card_flaky_9",  # outlasts the retries: the order stays pending
    "pm_card_slow_1",  # charged, but the answer comes after the client's timeout
]
INITIAL_STOCK = 6
KEEPS_MONEY = {OrderStatus.PAID, OrderStatus.CANCELLING, OrderStatus.FULFILLED}


@pytest.fixture(scope="module")
def machine_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = create_sqlite_database(tmp_path_factory.mktemp("order-machine"))
    migrate_to_head(url)
    return url


@dataclass
class Shop:
    """What every example shares: one event loop, the services, the accounts."""

    loop: asyncio.AbstractEventLoop
    container: Container
    customers: list[User]
    admin: User

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @classmethod
    def open(cls, database_url: str, mail_dir: Path) -> Shop:
        loop = asyncio.new_event_loop()
        settings = Settings(
            _env_file=None,
            environment=Environment.TEST,
            database_url=database_url,
            secret_key=TEST_SECRET,
            embedded_jobs=False,
            log_level="WARNING",
            mail_dir=str(mail_dir),
        )
        container = Container.build(settings)
        users = container.users

        async def register(email: str, role: Role = Role.CUSTOMER) -> User:
            return await users.register(email=email, password=PASSWORD, full_name="F", role=role)

        customers = [loop.run_until_complete(register(f"c{n}@example.com")) for n in range(2)]
        admin = loop.run_until_complete(register("admin@example.com", Role.ADMIN))
        return cls(loop, container, customers, admin)

    def close(self) -> None:
        self.run(self.container.close())
        self.loop.close()


async def empty_all_but_users(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "users":
                await connection.execute(delete(table))


class OrderMachine(RuleBasedStateMachine):
    shop: Shop

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.container = self.shop.container
        self.customers, self.admin = self.shop.customers, self.shop.admin
        provider_app = create_provider_app(slow_seconds=0.2)
        self.provider: ProviderState = provider_app.state.provider
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=provider_app),
            base_url="http://provider",
            timeout=httpx.Timeout(0.1),
        )
        provider = PaymentProvider(
            self.http,
            breaker=CircuitBreaker("payments", failure_threshold=1000, reset_timeout=1),
            retry=RetryPolicy(attempts=3, initial_backoff=0.001, max_backoff=0.002),
        )
        self.payments = PaymentService(self.container.units_of_work, provider=provider)
        self.run(empty_all_but_users(self.container.engine))
        self.items = [self.run(self._item(n)) for n in range(2)]
        self.expected_total = dict.fromkeys(self.items, INITIAL_STOCK)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.shop.run(coroutine)

    async def _item(self, n: int) -> uuid.UUID:
        created = await self.container.catalog.create_item(
            sku=f"SM-{n}",
            name=f"Item {n}",
            price_minor=150 + n * 75,
            currency="EUR",
            stock=INITIAL_STOCK,
        )
        return created.id

    def teardown(self) -> None:
        self.run(self.http.aclose())

    # -- rules ------------------------------------------------------------------------

    @rule(
        target=orders,
        customer=st.integers(0, 1),
        quantities=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    )
    def place(self, customer: int, quantities: list[int]) -> uuid.UUID | None:
        return self._place(customer, quantities)

    @initialize(target=orders, quantity=st.integers(1, 3))
    def first_order(self, quantity: int) -> uuid.UUID | None:
        return self._place(0, [quantity])

    @initialize(target=orders, quantity=st.integers(1, 3))
    def another_customers_order(self, quantity: int) -> uuid.UUID | None:
        return self._place(1, [1, quantity])

    @rule(order=orders, card=st.sampled_from(CARDS))
    def pay(self, order: uuid.UUID | None, card: str) -> None:
        if order is not None:
            self._attempt(
                self.payments.charge(order_id=order, actor=Actor.system(), payment_method=card)
            )

    @rule(order=orders, by_admin=st.booleans())
    def cancel(self, order: uuid.UUID | None, by_admin: bool) -> None:
        if order is not None:
            actor = self.admin if by_admin else self._owner(order)
            self._attempt(self.container.orders.cancel(actor=actor, order_id=order))

    @rule(order=orders)
    def fulfil(self, order: uuid.UUID | None) -> None:
        if order is not None:
            self._attempt(self.container.orders.fulfil(actor=self.admin, order_id=order))

    @rule()
    def refund_what_is_cancelling(self) -> None:
        """The worker's part of a cancellation: the refund, outside any transaction."""
        for order in self._orders():
            if order.status is OrderStatus.CANCELLING:
                self._attempt(self.payments.refund(order_id=order.id, actor=Actor.system()))

    @rule()
    def expire_unpaid(self) -> None:
        self.run(self.container.orders.expire_unpaid(older_than=timedelta(0)))

    @rule(item=st.integers(0, 1), delta=st.integers(-3, 5))
    def admin_sets_stock(self, item: int, delta: int) -> None:
        item_id = self.items[item]
        on_hand = self._stock()[item_id]
        target = max(0, on_hand + delta)
        self.run(self.container.catalog.update_item(item_id=item_id, changes={"stock": target}))
        self.expected_total[item_id] += target - on_hand

    @rule(item=st.integers(0, 1), stock=st.integers(0, 8), quantity=st.integers(1, 3))
    def admin_sets_stock_while_an_order_is_placed(
        self, item: int, stock: int, quantity: int
    ) -> None:
        """Both commit in one order or the other; either way no unit appears or vanishes
        beyond what the admin set."""
        item_id = self.items[item]
        before = self._totals()[item_id]
        held_before = before - self._stock()[item_id]
        line = [NewLine(item_id=item_id, quantity=quantity)]

        async def both() -> tuple[object, object]:
            return await asyncio.gather(
                self.container.orders.place(customer=self.customers[0], lines=line),
                self.container.catalog.update_item(item_id=item_id, changes={"stock": stock}),
                return_exceptions=True,
            )

        placed, _ = self.run(both())
        reserved = 0 if isinstance(placed, BaseException) else quantity
        on_hand = self._stock()[item_id]
        # admin last: on hand is what they set; order last: what they set, less the order
        assert on_hand in {stock, stock - reserved}, (on_hand, stock, reserved)
        self.expected_total[item_id] = on_hand + held_before + reserved

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def stock_is_conserved(self) -> None:
        assert self._totals() == self.expected_total

    @invariant()
    def money_matches_the_provider(self) -> None:
        charges, refunds = self.provider.charges, self.provider.refunds
        statuses = {order.id: order.status for order in self._orders()}
        payments = self.run(self._rows(select(Payment)))
        for payment in payments:
            charged = charges[payment.charge_key]
            assert charged <= 1, f"{payment.order_id} charged {charged} times"
            assert refunds[payment.refund_key] <= charged, f"{payment.order_id} refunded more"
            if statuses[payment.order_id] in KEEPS_MONEY:
                assert charged == 1, f"{statuses[payment.order_id]} without its charge"
                assert refunds[payment.refund_key] == 0
        keys = {p.charge_key for p in payments} | {p.refund_key for p in payments}
        assert set(charges) | set(refunds) <= keys  # nothing charged for an unknown order
        assert sum(refunds.values()) <= sum(charges.values())

    @invariant()
    def totals_are_the_sum_of_their_lines(self) -> None:
        sums: Counter[uuid.UUID] = Counter()
        for line in self.run(self._rows(select(OrderLine))):
            sums[line.order_id] += line.unit_price_minor * line.quantity
        for order in self._orders():
            assert order.total_minor == sums[order.id], order.id

    # -- reading the database ---------------------------------------------------------

    def _place(self, customer: int, quantities: list[int]) -> uuid.UUID | None:
        pairs = zip(self.items, quantities, strict=False)
        lines = [NewLine(item_id=i, quantity=q) for i, q in pairs]
        try:
            placed = self.run(
                self.container.orders.place(customer=self.customers[customer], lines=lines)
            )
        except DomainError:  # out of stock: nothing reserved
            return None
        return placed.order.id

    def _attempt(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """A refused transition or an unreachable provider is an answer, not a failure."""
        with contextlib.suppress(DomainError):
            self.run(coroutine)

    def _owner(self, order_id: uuid.UUID) -> User:
        owner = next(o.user_id for o in self._orders() if o.id == order_id)
        return next(c for c in self.customers if c.id == owner)

    async def _rows(self, query: Any) -> list[Any]:
        async with self.container.sessions.reader() as session:
            return list((await session.execute(query)).scalars())

    def _orders(self) -> list[Order]:
        return self.run(self._rows(select(Order)))

    def _stock(self) -> dict[uuid.UUID, int]:
        return {i.id: i.stock for i in self.run(self._rows(select(Item)))}

    def _totals(self) -> dict[uuid.UUID, int]:
        """On hand + held by the orders that hold stock, per item."""
        totals = Counter(self._stock())
        holding = {o.id for o in self._orders() if o.holds_stock}
        for line in self.run(self._rows(select(OrderLine))):
            if line.order_id in holding:
                totals[line.item_id] += line.quantity
        return dict(totals)


def test_orders_keep_stock_money_and_totals_consistent(
    machine_database: str, tmp_path: Path
) -> None:
    shop = Shop.open(machine_database, tmp_path / "mail")
    try:
        machine = type("BoundOrderMachine", (OrderMachine,), {"shop": shop})
        # An example walks the services through a database: half the profile's examples.
        examples = max(10, hypothesis_settings().max_examples // 2)
        run_state_machine_as_test(machine, settings=hypothesis_settings(max_examples=examples))
    finally:
        shop.close()
