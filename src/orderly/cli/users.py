"""User accounts: ``orderly users create-admin|deactivate`` (and the older top-level
``orderly create-admin``)."""

from __future__ import annotations

from typing import Annotated

import typer

from orderly.cli.console import JsonOption, print_json, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.models import Role, User

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


@app.command()
def deactivate(
    email: Annotated[str, typer.Argument(help="The account's e-mail")],
    as_json: JsonOption = False,
) -> None:
    """Deactivate an account: it can no longer sign in and its tokens stop working at once.
    The last active administrator is refused."""

    async def run(container: Container) -> User:
        return await container.users.deactivate(email=email)

    user = with_container(Settings(), run)
    if as_json:
        print_json({"id": user.id, "email": user.email, "is_active": user.is_active})
        return
    typer.echo(f"Deactivated {user.email} ({user.id}); its tokens are revoked")
