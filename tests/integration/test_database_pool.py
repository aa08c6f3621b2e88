"""The PostgreSQL connection pool under trouble: connections the server drops, more
requests than connections. PostgreSQL only (SQLite has no server and no pool to guard)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orderly.container import Container
from orderly.core.config import Settings
from orderly.main import create_app
from tests.conftest import Account, assert_problem, migrated_database
from tests.services import ServiceSettings


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    service_settings: ServiceSettings,
) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory, service_settings)


async def test_a_dropped_database_connection_is_a_503_and_the_next_request_reconnects(
    settings: Settings, client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    # a signed-in read: it needs the database (public catalog pages may come from the cache)
    me = "/api/v1/users/me"
    assert (await client.get(me, headers=customer.headers)).status_code == 200
    async with container.engine.connect() as connection:
        api_pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    # Another session ends every connection the API holds, as a database restart would.
    killer = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        async with killer.connect() as connection:
            ended = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert len(ended.all()) >= 1
    finally:
        await killer.dispose()
    assert api_pid  # the pool had a connection to lose
    first = await client.get(me, headers=customer.headers)
    body = assert_problem(first, 503)
    assert body["type"] == "urn:orderly:problem:backend-unavailable"
    assert first.headers["Retry-After"] == "1"
    # The lost connection invalidated the pool: the next request reconnects by itself.
    assert (await client.get(me, headers=customer.headers)).status_code == 200


async def test_requests_beyond_the_pool_wait_in_line_then_get_503_database_busy(
    settings: Settings,
) -> None:
    busy = settings.model_copy(update={"database_pool_size": 1, "database_pool_timeout": 0.3})
    app = create_app(busy)
    async with app.router.lifespan_context(app):
        container: Container = app.state.container
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            async with container.uow(read_only=True):  # holds the only slot
                refused = await client.get("/api/v1/items")
            body = assert_problem(refused, 503)
            assert body["type"] == "urn:orderly:problem:database-busy"
            assert refused.headers["Retry-After"] == "1"
            # Released: requests go through again, one after another.
            answers = await asyncio.gather(*(client.get("/api/v1/items") for _ in range(5)))
            assert [a.status_code for a in answers] == [200] * 5
