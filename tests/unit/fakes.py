"""In-memory stand-ins for the repositories and the unit of work, passed into services."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Self

from orderly.events.types import Event
from orderly.models import Item, ItemFilter, ItemSort, Order, OrderStatus, Payment, User
from orderly.unit_of_work import ConstraintViolated, ReadOnlyUnitOfWork


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, User] = {}

    def add(self, user: User) -> None:
        self.rows[user.id] = user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return self.rows.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        wanted = User.normalize_email(email)
        return next((u for u in self.rows.values() if u.email == wanted), None)

    async def count(self) -> int:
        return len(self.rows)

    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        users = list(self.rows.values())
        return users[offset : offset + limit], len(users)


class FakeItems:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Item] = {}

    def add(self, item: Item) -> None:
        self.rows[item.id] = item

    async def get(self, item_id: uuid.UUID) -> Item | None:
        return self.rows.get(item_id)

    async def view(self, item_id: uuid.UUID) -> Item | None:
        return self.rows.get(item_id)

    async def get_by_sku(self, sku: str) -> Item | None:
        wanted = Item.normalize_sku(sku)
        return next((i for i in self.rows.values() if i.sku == wanted), None)

    async def count(self) -> int:
        return len(self.rows)

    async def search(
        self, *, criteria: ItemFilter, limit: int, offset: int, sort: ItemSort = ItemSort.NAME
    ) -> tuple[list[Item], int]:
        found = [i for i in self.rows.values() if i.is_active]
        return found[offset : offset + limit], len(found)


class FakeItemsWithStock(FakeItems):
    async def get_many(self, item_ids: list[uuid.UUID]) -> list[Item]:
        return [self.rows[i] for i in item_ids if i in self.rows]

    async def reserve_stock(self, item_id: uuid.UUID, quantity: int) -> bool:
        item = self.rows.get(item_id)
        if item is None or not item.is_active or item.stock < quantity:
            return False
        item.stock -= quantity
        return True

    async def release_stock(self, item_id: uuid.UUID, quantity: int) -> None:
        self.rows[item_id].stock += quantity


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Order] = {}
        self.payments: dict[uuid.UUID, Payment] = {}

    def add(self, order: Order) -> None:
        self.rows[order.id] = order

    def add_payment(self, payment: Payment) -> None:
        self.payments[payment.order_id] = payment

    async def get(self, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        return self.rows.get(order_id)

    async def lock_alone(self, order_id: uuid.UUID) -> Order | None:
        return self.rows.get(order_id)

    async def get_by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None:
        return next(
            (o for o in self.rows.values() if o.user_id == user_id and o.idempotency_key == key),
            None,
        )

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
    ) -> tuple[list[Order], int]:
        found = [
            o
            for o in self.rows.values()
            if (user_id is None or o.user_id == user_id) and (status is None or o.status == status)
        ]
        return found[offset : offset + limit], len(found)

    async def get_payment(self, order_id: uuid.UUID) -> Payment | None:
        return self.payments.get(order_id)


class FakeUnitOfWork:
    """Shares its repositories across uses, like one database; counts commits."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.items = FakeItemsWithStock()
        self.orders = FakeOrders()
        self.commits = 0
        self.fail_next_commit = False
        self.pending: list[Event] = []
        self.events: list[Event] = []  # what a real unit of work would write to the outbox
        self.read_only = False
        self.opened: list[bool] = []  # read_only of every use, in order

    def emit(self, event: Event) -> None:
        self.pending.append(event)

    def __call__(self, *, read_only: bool = False) -> Self:
        self.read_only = read_only
        self.opened.append(read_only)
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pending.clear()  # not committed: the events are gone with the change

    async def commit(self) -> None:
        if self.read_only:
            raise ReadOnlyUnitOfWork("a read-only unit of work cannot commit")
        if self.fail_next_commit:
            self.fail_next_commit = False
            self.pending.clear()
            raise ConstraintViolated("unique constraint")
        self.commits += 1
        self.events += self.pending
        self.pending.clear()

    async def rollback(self) -> None:
        return None
