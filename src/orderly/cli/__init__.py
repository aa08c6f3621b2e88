"""The ``orderly`` command. Each topic is a module with a Typer app of its own; a group of
subcommands (``orderly users ...``) is added under its name, top-level commands are merged in.
A new group is one module and one ``add_typer`` line here."""

from __future__ import annotations

import typer

from orderly.cli import data, keys, outbox, processes, projections, reports, users

# No local variables in tracebacks: they would print settings and secrets.
app = typer.Typer(
    help="orderly: order-management backend",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

app.add_typer(processes.app)
app.add_typer(data.app)
app.command("create-admin", help="Create an administrator account (same as users create-admin).")(
    users.create_admin
)
app.add_typer(users.app, name="users")
app.add_typer(outbox.app, name="outbox")
app.add_typer(reports.app, name="report")
app.add_typer(projections.app, name="projections")
app.add_typer(keys.app, name="keys")

__all__ = ["app"]
