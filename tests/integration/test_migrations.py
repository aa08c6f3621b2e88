"""The models and the Alembic revisions describe the same schema, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url

from orderly import migrate
from orderly.models import Base


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql+asyncpg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_autogenerate_finds_no_difference(database_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    await engine.dispose()
    assert differences == []


def test_migrations_downgrade_to_base_and_back(database_url: str) -> None:
    migrate.downgrade(database_url, "base")
    try:
        engine = create_engine(_sync_url(database_url)) if "sqlite" in database_url else None
        if engine is not None:
            with engine.connect() as connection:
                tables = connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name='items'"
                ).all()
            engine.dispose()
            assert tables == []
    finally:
        migrate.upgrade(database_url)
