"""Property: after any sequence of order changes through the real services, the read model
(``order_views``) says what the write model says, and a rebuild from the write tables
gives the same rows. Random sequences of place / pay (each test card of the fake provider)
/ cancel / expire / fulfil / refund / note, on SQLite, checked after every step."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from orderly.container import Container
from orderly.core.errors import DomainError
from orderly.events.types import Actor
from orderly.models import Item, Role, User
from orderly.projections import orders as projection
from orderly.schemas.orders import OrderRead
from orderly.services.orders import NewLine
from tests.conftest import PASSWORD, settings_for
from tests.databases import create_sqlite_database, migrate_to_head
from tests.integration.order_views import expected_views, projected_views

T = TypeVar("T")

# Every behaviour of the fake provider that answers at once: success, decline, a 503 that
# the client's retry gets past, and one it does not (the order stays pending).
ORDER_TABLES = ("order_views", "order_timeline", "payments", "order_lines", "orders", "outbox")
CARDS = ["pm_card_visa", "pm_card_chargeDeclined", "pm_card_flaky_1", "pm_card_flaky_9"]


class World:
    """One database and container, driven from the state machine's thread."""

    def __init__(self, directory: Path) -> None:
        url = create_sqlite_database(directory)
        migrate_to_head(url)
        self.settings = settings_for(
            url,
            embedded_jobs=False,
            mail_dir=str(directory / "mail"),
            payment_backoff_initial=0.001,
            payment_backoff_max=0.002,
        )
        self.runner = asyncio.Runner()
        self.container = self.run(self._build())
        self.customer, self.admin, self.items = self.run(self._accounts_and_items())

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(work)

    async def _build(self) -> Container:
        return Container.build(self.settings)

    async def _accounts_and_items(self) -> tuple[User, User, list[Item]]:
        users = self.container.users
        customer = await users.register(
            email="prop@example.com", password=PASSWORD, full_name="Prop"
        )
        admin = await users.register(
            email="prop-admin@example.com", password=PASSWORD, full_name="Admin", role=Role.ADMIN
        )
        items = [
            await self.container.catalog.create_item(
                sku=f"PROP-{n}",
                name=f"Property item {n}",
                price_minor=250 * (n + 1),
                currency="EUR",
                stock=10_000,
            )
            for n in range(3)
        ]
        return customer, admin, items

    async def forget_orders(self) -> None:
        """Each sequence starts with no order (the accounts and items stay)."""
        async with self.container.sessions.writer() as session, session.begin():
            for table in ORDER_TABLES:
                await session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - constants

    def close(self) -> None:
        self.run(self.container.close())
        self.runner.close()


class OrderLifecycle(RuleBasedStateMachine):
    world: ClassVar[World]
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.w = OrderLifecycle.world
        self.w.run(self.w.forget_orders())

    def attempt(self, work: Coroutine[Any, Any, object]) -> None:
        """A change the state machine may refuse (an illegal transition, a decline, the
        provider down): refused is a valid outcome, the views must still agree."""
        with contextlib.suppress(DomainError):
            self.w.run(work)

    @rule(
        target=orders,
        picks=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
        quantity=st.integers(1, 3),
    )
    def place(self, picks: list[int], quantity: int) -> uuid.UUID:
        lines = [NewLine(item_id=self.w.items[i].id, quantity=quantity) for i in picks]
        placed = self.w.run(self.w.container.orders.place(customer=self.w.customer, lines=lines))
        return placed.order.id

    @rule(order=orders, card=st.sampled_from(CARDS))
    def pay(self, order: uuid.UUID, card: str) -> None:
        payments = self.w.container.payments
        self.attempt(payments.charge(order_id=order, actor=Actor.worker(), payment_method=card))

    @rule(order=orders, by_admin=st.booleans())
    def cancel(self, order: uuid.UUID, by_admin: bool) -> None:
        actor = self.w.admin if by_admin else self.w.customer
        self.attempt(self.w.container.orders.cancel(actor=actor, order_id=order, reason="changed"))

    @rule(order=orders)
    def refund(self, order: uuid.UUID) -> None:
        """The worker's job after a paid order's cancellation (or a late charge)."""
        self.attempt(self.w.container.payments.refund(order_id=order, actor=Actor.worker()))

    @rule()
    def expire(self) -> None:
        self.w.run(self.w.container.orders.expire_unpaid(older_than=timedelta(0)))

    @rule(order=orders)
    def fulfil(self, order: uuid.UUID) -> None:
        self.attempt(self.w.container.orders.fulfil(actor=self.w.admin, order_id=order))

    @rule(order=orders)
    def note(self, order: uuid.UUID) -> None:
        orders = self.w.container.orders
        self.attempt(orders.add_note(actor=self.w.admin, order_id=order, note="called"))

    @invariant()
    def views_say_what_the_orders_say(self) -> None:
        container = self.w.container
        projected = self.w.run(projected_views(container))
        expected = self.w.run(expected_views(container))
        assert projected == expected
        # ... and the API's representation of either is the same bytes.
        for order_id, view in self.w.run(_api_views(container)).items():
            assert view == self.w.run(_api_order(container, order_id))

    def teardown(self) -> None:
        container = self.w.container
        before = self.w.run(projected_views(container))
        self.w.run(projection.rebuild(container.sessions.writer, batch=7))
        assert self.w.run(projected_views(container)) == before


async def _api_views(container: Container) -> dict[uuid.UUID, str]:
    async with container.units_of_work(read_only=True) as uow:
        views, _ = await uow.order_views.page(limit=100, offset=0)
    return {view.id: OrderRead.model_validate(view).model_dump_json() for view in views}


async def _api_order(container: Container, order_id: uuid.UUID) -> str:
    async with container.units_of_work(read_only=True) as uow:
        order = await uow.orders.get(order_id)
    return OrderRead.model_validate(order).model_dump_json()


def test_the_read_model_follows_every_order_change(tmp_path: Path) -> None:
    """About 15 s: 10 sequences of up to 10 steps, each step checked against every order."""

    def run() -> None:
        OrderLifecycle.world = World(tmp_path)
        try:
            run_state_machine_as_test(
                OrderLifecycle,
                settings=settings(
                    max_examples=10,
                    stateful_step_count=10,
                    deadline=None,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                ),
            )
        finally:
            OrderLifecycle.world.close()

    # Its own thread and event loop: the suite's loop stays untouched.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()
