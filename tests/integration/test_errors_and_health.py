"""Problem+json for unexpected errors and unknown routes; liveness and readiness."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from orderly.core.config import Settings
from orderly.main import create_app
from tests.conftest import assert_problem, settings_for


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


async def test_a_500_carries_the_headers_of_every_other_answer(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    with caplog.at_level(logging.ERROR):
        response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    body = assert_problem(response, 500)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["x-request-id"] == "req-500"
    assert body["request_id"] == "req-500"
    logged = [r for r in caplog.records if "unhandled_error" in r.getMessage()]
    assert len(logged) == 1  # answered and logged once, not again by Starlette's last resort


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert_problem(await client.put("/api/v1/items"), 405)


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/items", "GET, POST"),
        ("/api/v1/items/0b8e5a34-36a0-4c3e-9d44-5c63c1b1a0a1", "DELETE, GET, PATCH"),
        ("/api/v1/users/me", "GET, PATCH"),
        # a literal segment beats the {delivery_id} parameter that would also match it
        (
            "/api/v1/webhooks/endpoints/0b8e5a34-36a0-4c3e-9d44-5c63c1b1a0a1"
            "/deliveries/replay-failed",
            "POST",
        ),
    ],
)
async def test_a_405_lists_every_method_the_path_serves(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    # Each method is its own route: Allow used to name only the first route's (schemathesis).
    response = await client.request("OPTIONS", path)
    assert_problem(response, 405)
    assert response.headers["Allow"] == allow


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"


async def test_readiness_is_a_503_problem_naming_the_database_when_it_is_unreachable() -> None:
    settings = settings_for("sqlite+aiosqlite:////nonexistent-dir/orderly.db")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/health/ready")
            assert (await client.get("/health/live")).status_code == 200
    body = assert_problem(response, 503)
    assert body["code"] == "not-ready"
    assert "database" in body["detail"]
    assert body["checks"]["database"]["status"] == "down"
    assert response.headers["retry-after"] == "2"


async def test_readiness_reports_each_check_when_the_broker_is_unreachable(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/health/ready")
    body = assert_problem(response, 503)
    assert body["detail"] == "Not answering: broker"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"


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
