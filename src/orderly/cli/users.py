"""User accounts: ``orderly users create-admin|deactivate`` (and the older top-level
``orderly create-admin``)."""

from __future__ import annotations

from typing import Annotated

import typer

from orderly.cli.console import with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.models import Role

app = typer.Typer(help="User accounts", no_args_is_help=True)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    full_name: Annotated[str, typer.Option()] = "Administrator",
) -> None:
    """Create an administrator account."""

    async def create(container: Container) -> None:
        await container.users.register(
            email=email, password=password, full_name=full_name, role=Role.ADMIN
        )

    with_container(Settings(), create)
    typer.echo(f"Created administrator {email}")
