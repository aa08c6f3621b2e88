"""The database's schema and data: migrate, and seed (demo data, or bulk data for trials)."""

from __future__ import annotations

from typing import Annotated

import typer

from orderly import migrate as migrations
from orderly.cli.console import with_container
from orderly.core.config import Settings
from orderly.demo import SeedResult, seed_if_empty

app = typer.Typer()


def report_seed(result: SeedResult | None) -> None:
    if result is None:
        return
    typer.echo(f"Loaded demo data: {result.items} items and the administrator {result.admin_email}")
    if result.admin_password:
        typer.secho(
            f"  admin password (shown once): {result.admin_password}", fg=typer.colors.YELLOW
        )


@app.command()
def migrate(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations up to REVISION (default: head)."""
    settings = Settings()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"Database is at revision {revision}")


@app.command()
def seed() -> None:
    """Load the demo administrator and catalog if the database is empty."""
    result = with_container(Settings(), seed_if_empty)
    if result is None:
        typer.echo("The database already has data; nothing loaded")
    report_seed(result)
