"""Shared fixtures: settings, one migrated database per backend, the app, users and tokens."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.main import create_app
from orderly.models import Role, User
from tests.databases import (
    create_sqlite_database,
    empty_all_tables,
    migrate_to_head,
    migrated_postgres,
)
from tests.services import ServiceSettings

PASSWORD = "s3cret-enough-pw"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"

# Hypothesis: "fast" (make test: few examples, derandomized so a run is reproducible) or
# "deep" (make test-all: many, random), chosen by ORDERLY_HYPOTHESIS_PROFILE. Examples that
# touch a database take milliseconds each: no deadline; no example database in the tree.
hypothesis_settings.register_profile(
    "fast",
    max_examples=50,
    stateful_step_count=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "deep",
    max_examples=500,
    stateful_step_count=40,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
HYPOTHESIS_PROFILE = os.environ.get("ORDERLY_HYPOTHESIS_PROFILE", "fast")
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.fixture(scope="session")
def service_settings() -> ServiceSettings:
    return ServiceSettings()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    service_settings: ServiceSettings,
) -> Iterator[str]:
    """A migrated database for the whole run, on SQLite and on PostgreSQL."""
    yield from migrated_database(request.param, tmp_path_factory, service_settings)


def migrated_database(
    kind: str, tmp_path_factory: pytest.TempPathFactory, service_settings: ServiceSettings
) -> Iterator[str]:
    """A new database of ``kind`` (sqlite or postgres) at the head revision, dropped after."""
    if kind == "sqlite":
        url = create_sqlite_database(tmp_path_factory.mktemp("sqlite"))
        migrate_to_head(url)
        yield url
        return
    yield from migrated_postgres(service_settings)


def settings_for(database_url: str, **changes: Any) -> Settings:
    """Settings for a test on ``database_url``: no ``.env`` file read, the test environment and
    the test secret key, then ``changes``."""
    return Settings(
        _env_file=None,
        environment=Environment.TEST,
        database_url=database_url,
        secret_key=TEST_SECRET,
        **changes,
    )


@pytest.fixture
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for(
        database_url,
        database_pool_size=5,
        embedded_jobs=False,  # tests that want the job runner turn it on
        mail_dir=str(tmp_path_factory.getbasetemp() / "mail"),
        payment_backoff_initial=0.01,
        payment_backoff_max=0.05,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        await empty_all_tables(application.state.container.engine)


@pytest.fixture
def container(app: FastAPI) -> Container:
    result: Container = app.state.container
    return result


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class Account:
    user: User
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def make_account(
    container: Container, email: str, role: Role = Role.CUSTOMER, password: str = PASSWORD
) -> Account:
    user = await container.users.register(
        email=email, password=password, full_name=email.split("@", maxsplit=1)[0].title(), role=role
    )
    pair = await container.users.log_in(email=email, password=password)
    return Account(user, email, password, pair.access_token, pair.refresh_token)


@pytest.fixture
async def customer(container: Container) -> Account:
    return await make_account(container, "carol@example.com")


@pytest.fixture
async def admin(container: Container) -> Account:
    return await make_account(container, "ada@example.com", role=Role.ADMIN)


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """A problem+json answer with this status that names each given field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert "type" in body
    named = {error["field"] for error in body.get("errors", [])}
    for field in fields:
        assert field in named, f"{field!r} not named in {body}"
    text = response.text.lower()
    assert "traceback" not in text
    assert "select " not in text
    assert "sqlalchemy" not in text
    return body
