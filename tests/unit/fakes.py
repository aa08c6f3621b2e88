"""In-memory stand-ins for the repositories and the unit of work, passed into services."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Self

from orderly.models import Item, ItemSort, User
from orderly.unit_of_work import ConstraintViolated


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

    async def get_by_sku(self, sku: str) -> Item | None:
        wanted = Item.normalize_sku(sku)
        return next((i for i in self.rows.values() if i.sku == wanted), None)

    async def count(self) -> int:
        return len(self.rows)

    async def search(
        self,
        *,
        limit: int,
        offset: int,
        sort: ItemSort = ItemSort.NAME,
        q: str | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        in_stock: bool = False,
    ) -> tuple[list[Item], int]:
        found = [i for i in self.rows.values() if i.is_active]
        return found[offset : offset + limit], len(found)


class FakeUnitOfWork:
    """Shares its repositories across uses, like one database; counts commits."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.items = FakeItems()
        self.commits = 0
        self.fail_next_commit = False

    def __call__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise ConstraintViolated("unique constraint")
        self.commits += 1

    async def rollback(self) -> None:
        return None
