"""Problem+json for unexpected errors and unknown routes; liveness and readiness."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.main import create_app
from tests.conftest import TEST_SECRET, assert_problem


async def test_unexpected_error_is_a_logged_500_problem_without_details(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    with caplog.at_level(logging.ERROR):
        response = await client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert body["title"] == "Internal server error"
    record = next(r for r in caplog.records if "unhandled_error" in r.getMessage())
    assert isinstance(record.msg, dict)
    assert record.msg["path"] == "/boom"
    assert isinstance(record.msg["exc_info"], RuntimeError)  # the traceback is logged


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert_problem(await client.put("/api/v1/items"), 405)


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"


async def test_readiness_is_503_when_the_database_is_unreachable(tmp_path: object) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.TEST,
        database_url="sqlite+aiosqlite:////nonexistent-dir/orderly.db",
        secret_key=TEST_SECRET,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/health/ready")
            assert (await client.get("/health/live")).status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "down"


async def test_openapi_documents_both_auth_and_problem_answers(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    answers = spec["paths"]["/api/v1/items"]["post"]["responses"]
    assert "application/problem+json" in answers["409"]["content"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert (await client.get("/redoc")).status_code == 200


async def test_a_dropped_database_connection_is_a_503_and_the_next_request_reconnects(
    settings: Settings, client: httpx.AsyncClient, container: Container
) -> None:
    if settings.is_sqlite:
        pytest.skip("PostgreSQL only: the server ends the API's connections")
    assert (await client.get("/api/v1/items")).status_code == 200
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
    first = await client.get("/api/v1/items")
    body = assert_problem(first, 503)
    assert body["type"] == "urn:orderly:problem:backend-unavailable"
    assert first.headers["Retry-After"] == "1"
    # The lost connection invalidated the pool: the next request reconnects by itself.
    assert (await client.get("/api/v1/items")).status_code == 200


async def test_requests_beyond_the_pool_wait_in_line_then_get_503_database_busy(
    settings: Settings,
) -> None:
    if settings.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no pool to guard")
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
