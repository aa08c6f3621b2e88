"""Queries on users. Never commits: the unit of work owns the transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import Role, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, user: User) -> None:
        self._session.add(user)

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self._session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        statement = select(User).where(User.email == User.normalize_email(email))
        return (await self._session.scalars(statement)).one_or_none()

    async def count(self) -> int:
        return (await self._session.scalar(select(func.count()).select_from(User))) or 0

    async def active_admins(self) -> list[User]:
        statement = select(User).where(User.role == Role.ADMIN, User.is_active.is_(True))
        return list(await self._session.scalars(statement))

    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        page = select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
        users = list(await self._session.scalars(page))
        return users, await self.count()
