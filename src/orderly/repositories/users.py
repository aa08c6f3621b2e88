"""Queries on users. Never commits: the unit of work owns the transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import Role, User
from orderly.repositories.paging import page_with_total

# Built once, executed with bound values (see repositories/items.py).
_BY_ID = select(User).where(User.id == bindparam("user_id"))
_BY_EMAIL = select(User).where(User.email == bindparam("email"))
_EVERYONE = select(User).order_by(User.created_at, User.id)
_COUNT = select(func.count()).select_from(User)
_TOTP_SECRETS = (
    select(User.id, User.totp_secret)
    .where(User.totp_secret.is_not(None), User.id > bindparam("after"))
    .order_by(User.id)
    .limit(bindparam("limit"))
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, user: User) -> None:
        self._session.add(user)

    async def get(self, user_id: uuid.UUID) -> User | None:
        return (await self._session.scalars(_BY_ID, {"user_id": user_id})).one_or_none()

    async def get_by_email(self, email: str) -> User | None:
        found = await self._session.scalars(_BY_EMAIL, {"email": User.normalize_email(email)})
        return found.one_or_none()

    async def count(self) -> int:
        return (await self._session.scalar(_COUNT)) or 0

    async def active_admins(self) -> list[User]:
        statement = select(User).where(User.role == Role.ADMIN, User.is_active.is_(True))
        return list(await self._session.scalars(statement))

    async def totp_secrets(self, *, after: uuid.UUID, limit: int) -> list[tuple[uuid.UUID, str]]:
        """Up to ``limit`` accounts holding a TOTP seed, by id, those after ``after``: their
        ids and stored (sealed) seeds."""
        found = await self._session.execute(_TOTP_SECRETS, {"after": after, "limit": limit})
        return [(user_id, stored) for user_id, stored in found if stored is not None]

    async def replace_totp_secret(self, user_id: uuid.UUID, old: str, new: str) -> bool:
        """Store ``new`` if the account still holds ``old`` (no change made meanwhile is
        overwritten); whether it did."""
        statement = (
            update(User)
            .where(User.id == user_id, User.totp_secret == old)
            .values(totp_secret=new)
            .execution_options(synchronize_session=False)
        )
        result = await self._session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        return await page_with_total(self._session, _EVERYONE, limit=limit, offset=offset)
