"""The ``orderly`` command run in-process with Typer's CliRunner (no terminal: stderr is a
buffer) against a migrated SQLite database of the module's own."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from orderly.cli import app
from orderly.container import Container
from orderly.core.config import Settings
from tests.conftest import TEST_SECRET, migrated_database, settings_for
from tests.databases import empty_all_tables
from tests.services import ServiceSettings

T = TypeVar("T")


@pytest.fixture(scope="module")
def cli_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database("sqlite", tmp_path_factory, ServiceSettings())


class Cli:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, input: str | None = None) -> Result:
        result = self.runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def run(self, work: Callable[[Container], Awaitable[T]]) -> T:
        async def go() -> T:
            container = Container.build(self.settings)
            try:
                return await work(container)
            finally:
                await container.close()

        return asyncio.run(go())

    def sql(self, statement: str, **params: Any) -> list[Any]:
        async def go(container: Container) -> list[Any]:
            async with container.engine.begin() as connection:
                result = await connection.execute(text(statement), params)
                return list(result) if result.returns_rows else []

        return self.run(go)


@pytest.fixture
def cli(cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The command with its settings in the environment (and no .env of the developer's);
    the tables are emptied afterwards."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("ORDERLY_")]:
        monkeypatch.delenv(name)
    values = {
        "ORDERLY_ENVIRONMENT": "test",
        "ORDERLY_DATABASE_URL": cli_database,
        "ORDERLY_SECRET_KEY": TEST_SECRET,
        "ORDERLY_MAIL_DIR": str(tmp_path / "mail"),
        "ORDERLY_ADMIN_PASSWORD": "demo-operator-pw-1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = settings_for(cli_database)
    runner = Cli(settings)
    yield runner
    runner.run(lambda c: empty_all_tables(c.engine))
