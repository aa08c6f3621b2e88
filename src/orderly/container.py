"""The composition root: builds engine, security and services from settings.

The API (lifespan), the CLI and the tests each build one ``Container`` and close it when done;
nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orderly.core.config import Settings
from orderly.core.database import create_engine, create_session_factory
from orderly.core.security import PasswordHasher, TokenCodec
from orderly.services.catalog import CatalogService
from orderly.services.users import UserService
from orderly.unit_of_work import SqlUnitOfWork, UnitOfWork


@dataclass(slots=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    users: UserService
    catalog: CatalogService

    @classmethod
    def build(cls, settings: Settings) -> Container:
        engine = create_engine(settings)
        session_factory = create_session_factory(engine)

        def uow() -> UnitOfWork:
            return SqlUnitOfWork(session_factory)

        tokens = TokenCodec(
            secret_key=settings.secret_key.get_secret_value(),
            algorithm=settings.jwt_algorithm,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
        return cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            users=UserService(uow, hasher=PasswordHasher(), tokens=tokens),
            catalog=CatalogService(uow),
        )

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.session_factory)

    async def close(self) -> None:
        await self.engine.dispose()
