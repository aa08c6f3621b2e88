"""Bulk data for trials and load tests: N items, M customers and K orders.

The rows are the ones the use cases write, built by the same entity constructors
(``Item`` as the catalog creates it, ``User.register``, ``Order.place``) and written by the
same unit-of-work commit (batched INSERTs of the added entities, then the outbox and the order
timeline from the events they recorded), a batch per unit of work. So the outbox holds a
``UserRegistered`` per customer and an ``OrderPlaced`` per order: a running relay and worker
handle them as they would real ones (welcome and order mails; unpaid orders wait for a
payment method and expire, releasing their stock).

Orders are planned before the items are written: each order takes its quantities off the
items' stock in memory, so the items go in with the stock that is left, as if every order
had reserved its stock when placed, and no UPDATE per line is needed.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from orderly.core.errors import Unprocessable
from orderly.core.money import validate_currency
from orderly.core.security import PasswordHasher
from orderly.models import Item, Order, Role, User
from orderly.models.order import LineRequest
from orderly.services.orders import NewLine, fingerprint
from orderly.unit_of_work import UnitOfWorkFactory

Phase = Literal["items", "customers", "orders"]
Advance = Callable[[Phase, int], None]
BATCH = 2_000
_WORDS = ["Oak", "Steel", "Linen", "Ceramic", "Walnut", "Copper", "Wool", "Glass", "Cork"]
_THINGS = ["Lamp", "Mug", "Notebook", "Chair", "Shelf", "Blanket", "Vase", "Clock", "Tray"]


class SeedRefused(Unprocessable):
    code = "seed-refused"


@dataclass(frozen=True, slots=True)
class SeedPlan:
    items: int = 0
    customers: int = 0
    orders: int = 0
    currency: str = "EUR"
    payment_method: str | None = None  # e.g. pm_card_visa: the workers then charge the orders
    max_lines: int = 3
    seed: int | None = None  # the random generator's seed (same plan, same shapes)


@dataclass(slots=True)
class BulkSeedResult:
    tag: str  # in every sku and e-mail of this run, so runs never collide
    items: int = 0
    customers: int = 0
    orders: int = 0
    units_reserved: int = 0
    customer_password: str | None = None  # shared by this run's customers, shown once
    customer_emails: list[str] = field(default_factory=list)


class BulkSeeder:
    def __init__(self, uow: UnitOfWorkFactory, *, hasher: PasswordHasher) -> None:
        self._uow = uow
        self._hasher = hasher

    def check(self, plan: SeedPlan) -> None:
        for name in ("items", "customers", "orders"):
            if getattr(plan, name) < 0:
                raise SeedRefused(f"--{name} must not be negative", field=name)
        if plan.orders and not (plan.items and plan.customers):
            raise SeedRefused(
                "Orders need items and customers of the same run: give --items and --customers",
                field="orders",
            )
        try:
            validate_currency(plan.currency)
        except ValueError as exc:
            raise SeedRefused(str(exc), field="currency") from exc

    async def seed(self, plan: SeedPlan, *, advance: Advance | None = None) -> BulkSeedResult:
        self.check(plan)
        tick = advance or (lambda _phase, _n: None)
        rng = random.Random(plan.seed)  # noqa: S311 - test data, not secrets
        result = BulkSeedResult(tag=secrets.token_hex(3))
        items = self._items(plan, result.tag, rng)
        customers: list[User] = []
        if plan.customers:
            result.customer_password = secrets.token_urlsafe(12)
            password_hash = await self._hasher.hash(result.customer_password)
            customers = [
                User.register(
                    email=f"seed-{result.tag}-{n:06d}@example.com",
                    password_hash=password_hash,
                    full_name=f"Seed Customer {n}",
                    role=Role.CUSTOMER,
                )
                for n in range(1, plan.customers + 1)
            ]
            result.customer_emails = [customers[0].email]
        orders = self._orders(plan, items, customers, rng)  # reserves the items' stock
        result.units_reserved = sum(line.quantity for o in orders for line in o.lines)
        result.items = await self._write(items, "items", tick)
        result.customers = await self._write(customers, "customers", tick)
        result.orders = await self._write(orders, "orders", tick)
        return result

    @staticmethod
    def _items(plan: SeedPlan, tag: str, rng: random.Random) -> list[Item]:
        currency = validate_currency(plan.currency)
        items = []
        for n in range(1, plan.items + 1):
            word, thing = rng.choice(_WORDS), rng.choice(_THINGS)
            items.append(
                Item(
                    id=uuid.uuid4(),
                    sku=Item.normalize_sku(f"seed-{tag}-{n:07d}"),
                    name=f"{word} {thing} {n}",
                    description=f"A {thing.lower()} made of {word.lower()}.",
                    price_minor=rng.randint(99, 49_999),
                    currency=currency,
                    stock=0 if n % 13 == 0 else rng.randint(1, 500),
                    is_active=True,
                )
            )
        return items

    @staticmethod
    def _orders(
        plan: SeedPlan, items: Sequence[Item], customers: Sequence[User], rng: random.Random
    ) -> list[Order]:
        in_stock = [item for item in items if item.stock > 0]
        orders = []
        for n in range(plan.orders):
            lines = _pick_lines(in_stock, rng.randint(1, plan.max_lines), rng)
            if not lines:  # mostly sold out: drop the empty ones and look again
                in_stock = [item for item in in_stock if item.stock > 0]
                lines = _pick_lines(in_stock, 1, rng)
            if not lines:
                raise SeedRefused(
                    f"The items ran out of stock after {n} orders; seed more items",
                    field="orders",
                )
            customer = customers[n % len(customers)]
            asked = [NewLine(item_id=line.item.id, quantity=line.quantity) for line in lines]
            orders.append(
                Order.place(
                    actor=customer.as_actor(),
                    user_id=customer.id,
                    lines=lines,
                    payment_method=plan.payment_method,
                    request_fingerprint=fingerprint(asked, plan.payment_method),
                )
            )
        return orders

    async def _write(
        self, entities: Sequence[Item | User | Order], phase: Phase, tick: Advance
    ) -> int:
        """One unit of work per batch; each commit writes the batch and its events."""
        for start in range(0, len(entities), BATCH):
            batch = entities[start : start + BATCH]
            async with self._uow() as uow:
                for entity in batch:
                    if isinstance(entity, Item):
                        uow.items.add(entity)
                    elif isinstance(entity, User):
                        uow.users.add(entity)
                    elif isinstance(entity, Order):
                        uow.orders.add(entity)
                await uow.commit()
            tick(phase, len(batch))
        return len(entities)


def _pick_lines(in_stock: Sequence[Item], wanted: int, rng: random.Random) -> list[LineRequest]:
    """Up to ``wanted`` distinct items that still have stock, each reduced by its quantity
    (the reservation placing the order makes). A few random draws, no scan of the list."""
    chosen: dict[int, Item] = {}
    for _ in range(wanted * 4):
        if len(chosen) == wanted or not in_stock:
            break
        item = in_stock[rng.randrange(len(in_stock))]
        if item.stock > 0:
            chosen.setdefault(id(item), item)
    lines = []
    for item in chosen.values():
        quantity = min(item.stock, rng.randint(1, 3))
        item.stock -= quantity
        lines.append(LineRequest(item=item, quantity=quantity))
    return lines
