"""Middleware, logging, rate limits, metrics, readiness and error reporting (SQLite only:
none of it depends on the database)."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sentry_sdk
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orderly.core.config import Environment, Settings
from orderly.core.observability import configure_sentry
from orderly.main import create_app
from tests.conftest import PASSWORD, Account, assert_problem
from tests.databases import create_sqlite_database, migrate_to_head
from tests.integration.test_items import add_item
from tests.metrics import sample, scrape


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = create_sqlite_database(tmp_path_factory.mktemp("edges"))
    migrate_to_head(url)
    return url


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the app writes to stderr (its log), when it is built after this fixture."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


@pytest.fixture
def settings(settings: Settings, stderr: io.StringIO) -> Settings:
    """Every app of this module logs JSON lines into ``stderr``."""
    return settings.model_copy(update={"log_json": True})


def access_lines(stderr: io.StringIO) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in stderr.getvalue().splitlines())
    return [line for line in lines if line["logger"] == "orderly.access"]


async def test_request_id_is_echoed_and_logged(
    client: httpx.AsyncClient, stderr: io.StringIO
) -> None:
    started = time.perf_counter()
    response = await client.get("/api/v1/items", headers={"X-Request-ID": "abc123"})
    took_ms = (time.perf_counter() - started) * 1000
    assert response.headers["x-request-id"] == "abc123"
    (line,) = access_lines(stderr)
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert line["request_id"] == "abc123"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/api/v1/items", 200)
    assert 0 < line["duration_ms"] <= took_ms  # the time inside the app, within the round trip
    # Server-Timing is taken when the answer starts (before the log line), to 0.1 ms.
    timing = float(response.headers["server-timing"].removeprefix("app;dur="))
    assert 0 < timing <= line["duration_ms"] + 0.05


@pytest.mark.parametrize("offered", ["has spaces", "x" * 129, "semi;colon"])
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, offered: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": offered})
    generated = response.headers["x-request-id"]
    assert generated != offered
    assert len(generated) == 32


async def test_a_log_line_that_cannot_be_written_fails_no_request(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    monkeypatch.setattr(sys, "stderr", Broken())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)  # raises what the app raises
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/api/v1/items")
    assert response.status_code == 200


async def test_access_log_names_the_route_template_and_the_user(
    client: httpx.AsyncClient, customer: Account, stderr: io.StringIO
) -> None:
    stderr.truncate(0)  # the customer's sign-up and sign-in before
    stderr.seek(0)
    await client.get("/api/v1/users/me", headers=customer.headers)
    await client.get("/api/v1/items/0f8fad5b-d9cb-469f-a165-70867728950e")
    me, item = access_lines(stderr)
    assert me["user_id"] == str(customer.user.id)
    assert item["route"] == "/api/v1/items/{item_id}"
    assert item["status"] == 404


async def test_oversized_bodies_get_413_and_write_nothing(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            big = {"email": "big@example.com", "password": PASSWORD, "full_name": "x" * 4000}
            declared = await http.post("/api/v1/auth/register", json=big)

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield b" " * 500

            streamed = await http.post(
                "/api/v1/auth/register",
                content=chunks(),
                headers={"content-type": "application/json"},
            )
            async with app.state.container.uow() as uow:
                users = await uow.users.count()
    for response in (declared, streamed):
        assert_problem(response, 413)
    assert users == 0


async def test_security_headers(client: httpx.AsyncClient) -> None:
    api = await client.get("/api/v1/items")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert "strict-transport-security" not in api.headers


async def test_the_docs_pages_load_only_orderlys_own_files(client: httpx.AsyncClient) -> None:
    """No CDN and no inline script: every script the pages name is served by orderly."""
    for page in ("/docs", "/redoc"):
        answer = await client.get(page)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "http" not in csp
        assert "<script>" not in answer.text
        sources = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
        assert sources
        assert all(source.startswith("/docs/static/") for source in sources)
        for source in sources:
            asset = await client.get(source)
            assert asset.status_code == 200, source
    swagger_csp = (await client.get("/docs")).headers["content-security-policy"]
    assert "'unsafe-inline'" not in swagger_csp
    redoc = await client.get("/docs/static/redoc.standalone.js")
    assert redoc.headers["content-type"].startswith("text/javascript")
    assert "cdn.redoc.ly" not in redoc.text
    init = await client.get("/docs/static/swagger-init.js")
    assert "SwaggerUIBundle(" in init.text


async def test_hsts_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    app = create_app(production)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/health/live")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_cors_from_settings(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://shop.example"]}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await http.options(
            "/api/v1/orders", headers={"Origin": "https://shop.example", **preflight}
        )
        refused = await http.options(
            "/api/v1/orders", headers={"Origin": "https://evil.example", **preflight}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in refused.headers


async def test_no_secret_reaches_a_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, stderr: io.StringIO
) -> None:
    new = "another-long-passphrase"
    with caplog.at_level(logging.DEBUG):
        await client.post(
            "/api/v1/auth/register",
            json={"email": "sam@example.com", "password": PASSWORD, "full_name": "Sam"},
        )
        token = await client.post(
            "/api/v1/auth/token", data={"username": "sam@example.com", "password": PASSWORD}
        )
        tokens = token.json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        await client.patch(
            "/api/v1/users/me",
            json={"password": new, "current_password": PASSWORD},
            headers=headers,
        )
        await client.post(
            "/api/v1/auth/token", data={"username": "sam@example.com", "password": "x"}
        )
        logging.getLogger("orderly.test").info("probe %s", "ok")
        structlog_probe = __import__("structlog").get_logger("orderly.test")
        structlog_probe.info("login_attempt", password=PASSWORD, api_key="k", token="t")
    records = "\n".join(str(r.msg) + " " + r.getMessage() for r in caplog.records)
    text = records + "\n" + stderr.getvalue()  # the access lines are written, not records
    assert "login_attempt" in text  # the probe line was captured, so the search means something
    assert '"route": "/api/v1/users/me"' in text  # and so were the access lines
    for secret in (PASSWORD, new, tokens["access_token"], tokens["refresh_token"], "$argon2"):
        assert secret not in text


async def test_sixth_wrong_login_in_a_minute_is_429(
    client: httpx.AsyncClient, customer: Account
) -> None:
    form = {"username": customer.email, "password": "wrong-password-123"}
    answers = [await client.post("/api/v1/auth/token", data=form) for _ in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    body = assert_problem(answers[-1], 429)
    assert body["type"] == "urn:orderly:problem:rate-limited"
    headers = answers[-1].headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert (headers["ratelimit-limit"], headers["ratelimit-remaining"]) == ("5", "0")


async def test_writes_are_limited_per_user(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_writes": "3/minute"}))
    async with app.router.lifespan_context(app):
        container = app.state.container
        from tests.conftest import make_account

        ann = await make_account(container, "ann@example.com")
        bob = await make_account(container, "bob@example.com")
        item = await add_item(container, "W-1", stock=50)
        body = {"lines": [{"item_id": str(item.id), "quantity": 1}]}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            ann_codes = [
                (await http.post("/api/v1/orders", json=body, headers=ann.headers)).status_code
                for _ in range(4)
            ]
            bob_code = (
                await http.post("/api/v1/orders", json=body, headers=bob.headers)
            ).status_code
            reads = (await http.get("/api/v1/orders", headers=ann.headers)).status_code
    assert ann_codes == [201, 201, 201, 429]
    assert (bob_code, reads) == (201, 200)  # budgets are per user, and reads are not counted


async def test_unreachable_redis_fails_open_for_limits_and_closes_readiness(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        login = await http.post("/api/v1/auth/token", data={"username": "a@b.co", "password": "x"})
        ready = await http.get("/health/ready")
    assert login.status_code == 401  # limiter store down: let through, never a 500
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["status"] == "down"
    assert ready.json()["checks"]["database"]["status"] == "ok"


async def test_metrics_count_the_traffic(
    client: httpx.AsyncClient, customer: Account, container: Any
) -> None:
    item = await add_item(container, "M-1", stock=5)
    before = await scrape(client)
    assert (await client.get("/api/v1/items")).status_code == 200
    placed = await client.post(
        "/api/v1/orders",
        json={"lines": [{"item_id": str(item.id), "quantity": 1}]},
        headers=customer.headers,
    )
    assert placed.status_code == 201, placed.text
    account = {"email": "counted@example.com", "password": PASSWORD, "full_name": "Counted"}
    assert (await client.post("/api/v1/auth/register", json=account)).status_code == 201
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    requests = "orderly_http_requests_total"
    assert grew(requests, method="GET", route="/api/v1/items", status="200") == 1
    assert grew(requests, method="POST", route="/api/v1/orders", status="201") == 1
    timed = "orderly_http_request_duration_seconds_count"
    assert grew(timed, method="GET", route="/api/v1/items") == 1
    assert grew("orderly_orders_total", event="placed") == 1
    assert grew("orderly_users_registered_total") == 1
    assert sample(after, "orderly_circuit_breaker_state", peer="payments") == 0  # closed
    assert sample(after, "orderly_db_pool_connections_in_use") == 0  # every one returned


async def test_metrics_are_hidden_from_other_networks(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert_problem(await http.get("/metrics"), 404)


async def test_sentry_captures_an_unexpected_error(settings: Settings) -> None:
    events: list[Any] = []

    class Capture(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: Any) -> None:
            events.extend(item.payload.json for item in envelope.items if item.payload.json)

    with_dsn = settings.model_copy(
        update={"sentry_dsn": __import__("pydantic").SecretStr("https://key@sentry.invalid/1")}
    )
    app = create_app(with_dsn)
    assert configure_sentry(with_dsn, transport=Capture)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                assert (await http.get("/boom")).status_code == 500
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)  # off again for the rest of the run
    errors = [e for e in events if e.get("exception")]
    assert errors, events
    assert errors[0]["exception"]["values"][-1]["value"] == "kaboom"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def test_tracing_records_the_request_and_its_queries(
    settings: Settings, spans: InMemorySpanExporter
) -> None:
    app = create_app(settings, span_exporter=spans)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            assert (await http.get("/api/v1/items")).status_code == 200
        app.state.tracer_provider.force_flush()
    names = [span.name for span in spans.get_finished_spans()]
    assert any(name.startswith("GET /api/v1/items") for name in names), names
    assert any("SELECT" in name or "orderly" in name for name in names), names


async def test_the_application_serves_with_its_start_up_objects_frozen(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
    assert frozen > 100_000  # the modules, mappers, routes and models
    assert gc.get_freeze_count() == 0  # and thawed at shutdown
