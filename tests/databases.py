"""Create, migrate, empty and drop the throw-away databases the tests run on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from orderly import migrate
from orderly.models import Base
from tests.services import ServiceSettings, services_required


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def unavailable(what: str, error: BaseException) -> None:
    reason = f"{what} is not reachable ({type(error).__name__}: {error})"
    if services_required():
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


def create_postgres_database(services: ServiceSettings) -> str:
    """A new, empty database named orderly_test_<random>; returns its URL."""
    name = f"orderly_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = _asyncpg_dsn(services.postgres_url)

    async def create() -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=services.connect_timeout)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unavailable(f"PostgreSQL at {make_url(services.postgres_url).host}", error)
    url = make_url(services.postgres_url).set(database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(services: ServiceSettings, url: str) -> None:
    name = make_url(url).database

    async def drop() -> None:
        connection = await asyncpg.connect(
            _asyncpg_dsn(services.postgres_url), timeout=services.connect_timeout
        )
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def migrated_postgres(services: ServiceSettings) -> Iterator[str]:
    """A new PostgreSQL database at the head revision (its URL), dropped after."""
    url = create_postgres_database(services)
    try:
        migrate_to_head(url)
        yield url
    finally:
        drop_postgres_database(services, url)


def query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """The rows of ``sql`` (with ``$1``... bound to ``args``) on the PostgreSQL database at
    ``url``, over a connection of its own (for tests that look at what processes wrote)."""

    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def create_sqlite_database(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'orderly-test.db'}"


def migrate_to_head(url: str) -> None:
    migrate.upgrade(url)


async def empty_all_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
