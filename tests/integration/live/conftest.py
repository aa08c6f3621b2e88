"""Fixtures of the live status tests (SSE, WebSocket): an app with the in-process runner and
short live timings, served by uvicorn on a free port (streams need a real socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from orderly.container import Container
from orderly.core.config import Settings
from orderly.main import create_app
from orderly.models import Item, Role
from tests.conftest import Account, make_account
from tests.databases import empty_all_tables
from tests.integration.test_items import add_item
from tests.live_client import serve


@pytest.fixture
def live_app(settings: Settings) -> FastAPI:
    return create_app(
        settings.model_copy(
            update={
                "embedded_jobs": True,
                "relay_interval": 0.05,
                "live_heartbeat": 0.3,
                "live_retry_ms": 1500,
                "live_max_per_user": 2,
                "live_auth_timeout": 0.5,
            }
        )
    )


@pytest.fixture
async def base_url(live_app: FastAPI) -> AsyncIterator[str]:
    async with serve(live_app) as url:
        yield url
        await empty_all_tables(live_app.state.container.engine)


@pytest.fixture
def live(live_app: FastAPI, base_url: str) -> Container:
    container: Container = live_app.state.container
    return container


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def lamp(live: Container) -> Item:
    return await add_item(live, "LAMP-L", name="Lamp", price_minor=2500, stock=10)


@pytest.fixture
async def carol(live: Container) -> Account:
    return await make_account(live, "carol@example.com")


@pytest.fixture
async def dave(live: Container) -> Account:
    return await make_account(live, "dave@example.com")


@pytest.fixture
async def ada(live: Container) -> Account:
    return await make_account(live, "ada@example.com", role=Role.ADMIN)
