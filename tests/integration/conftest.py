"""Fixtures of the integration tests that run the in-process job runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from orderly.core.config import Settings
from orderly.main import create_app
from tests.databases import empty_all_tables


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
async def running(settings: Settings, mail_dir: Path) -> AsyncIterator[FastAPI]:
    """The app with its in-process job runner on, polling fast."""
    app = create_app(
        settings.model_copy(
            update={"embedded_jobs": True, "relay_interval": 0.05, "mail_dir": str(mail_dir)}
        )
    )
    async with app.router.lifespan_context(app):
        yield app
        await empty_all_tables(app.state.container.engine)


@pytest.fixture
async def http(running: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
