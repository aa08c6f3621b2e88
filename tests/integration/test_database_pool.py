"""The PostgreSQL connection pool under trouble: connections the server drops, more
requests than connections. PostgreSQL only (SQLite has no server and no pool to guard)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orderly.container import Container
from orderly.core.config import Settings
from orderly.main import create_app
from tests.conftest import Account, assert_problem, make_account, migrated_database
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


@asynccontextmanager
async def one_connection(
    settings: Settings, *, pool_timeout: float
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """The app on a pool of one connection (``pool_timeout``: the longest wait for it)."""
    app = create_app(
        settings.model_copy(update={"database_pool_size": 1, "database_pool_timeout": pool_timeout})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield app.state.container, client


async def test_requests_beyond_the_pool_wait_in_line_then_get_503_database_busy(
    settings: Settings,
) -> None:
    async with one_connection(settings, pool_timeout=0.3) as (container, client):
        async with container.uow(read_only=True):  # holds the only slot
            refused = await client.get("/api/v1/items")
        body = assert_problem(refused, 503)
        assert body["type"] == "urn:orderly:problem:database-busy"
        assert refused.headers["Retry-After"] == "1"
        # Released: requests go through again, one after another.
        answers = await asyncio.gather(*(client.get("/api/v1/items") for _ in range(5)))
        assert [a.status_code for a in answers] == [200] * 5


async def test_a_signed_in_read_checks_the_session_and_reads_on_one_connection(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    checkouts: list[object] = []

    def count(*connection: object) -> None:
        checkouts.append(connection)

    engine = container.engine.sync_engine
    event.listen(engine, "checkout", count)
    try:
        for path in ("/api/v1/orders", "/api/v2/orders", f"/api/v1/orders/{uuid.uuid4()}"):
            checkouts.clear()
            answer = await client.get(path, headers=customer.headers)
            assert answer.status_code in (200, 404), answer.text
            assert len(checkouts) == 1, path  # the session check and the reads share it
    finally:
        event.remove(engine, "checkout", count)
    pool = container.engine.sync_engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]  # returned after the endpoint


async def test_shared_reads_hold_one_slot_and_give_it_back_however_the_request_ends(
    settings: Settings,
) -> None:
    async with one_connection(settings, pool_timeout=0.5) as (container, client):
        customer = await make_account(container, "shared@example.com")
        # Two read-only units in one request on a one-connection pool: no waiting for a
        # second slot, and the slot is free for the next request.
        for _ in range(3):
            assert (await client.get("/api/v1/orders", headers=customer.headers)).is_success
        rejected = await client.get("/api/v1/orders", headers={"Authorization": "Bearer x"})
        assert_problem(rejected, 401)
        missing = await client.get(f"/api/v1/orders/{uuid.uuid4()}", headers=customer.headers)
        assert_problem(missing, 404)
        assert (await client.get("/api/v1/orders", headers=customer.headers)).is_success
        # Inside a shared scope read-only units share a session; writers never do.
        async with container.shared_reads():
            async with container.uow(read_only=True) as first:
                session = first.session  # type: ignore[attr-defined]
            async with container.uow(read_only=True) as second:
                assert second.session is session  # type: ignore[attr-defined]
        async with container.uow(read_only=True) as alone:
            assert alone.session is not session  # type: ignore[attr-defined]


async def test_shared_reads_stay_with_their_task_and_step_aside_for_a_writer(
    settings: Settings,
) -> None:
    async with one_connection(settings, pool_timeout=0.5) as (container, _):

        async def count_users() -> int:
            async with container.uow(read_only=True) as uow:
                return await uow.users.count()

        users = await count_users()  # what earlier tests left on this database
        async with container.shared_reads():
            assert await count_users() == users  # the scope's session holds the only slot
            # A writer hands that slot back first instead of waiting for a second one.
            async with container.uow() as writer:
                assert await writer.users.count() == users
            assert await count_users() == users  # reads open the shared session again
            # Tasks started inside run side by side: each opens units of its own (two at
            # once on one shared session would be an error), and one that outlives the
            # scope must not reopen it after it ended.
            late = asyncio.Event()

            async def after_the_scope() -> int:
                await late.wait()
                return await count_users()

            outliving = asyncio.create_task(after_the_scope())
        late.set()
        assert await outliving == users
        # Nothing leaked: the one slot is free for the next unit of work.
        assert await count_users() == users
        async with container.shared_reads():
            assert list(await asyncio.gather(count_users(), count_users())) == [users, users]
        assert await count_users() == users
