"""The keys that seal the TOTP seeds at rest: ``orderly keys new|reseal``.

Rotation: ``orderly keys new``, put the key first in ORDERLY_DATA_KEYS (the old ones after
it) on every process, ``orderly keys reseal``, then drop the old keys.
"""

from __future__ import annotations

import typer

from orderly.cli.console import JsonOption, err_console, print_json, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.crypto import new_key
from orderly.services.two_factor import Resealed

app = typer.Typer(help="The keys sealing the TOTP seeds (ORDERLY_DATA_KEYS)", no_args_is_help=True)


@app.command()
def new() -> None:
    """Print a new random key for ORDERLY_DATA_KEYS."""
    typer.echo(new_key())


@app.command()
def reseal(as_json: JsonOption = False) -> None:
    """Seal every stored TOTP seed again with the first key of ORDERLY_DATA_KEYS; afterwards
    the keys after it can be dropped. Seeds no configured key opens are listed and left as
    they are (exit status 1): keep the key that sealed them until they are resealed."""

    async def run(container: Container) -> Resealed:
        return await container.two_factor.reseal()

    done = with_container(Settings(), run)
    if as_json:
        print_json({"resealed": done.resealed, "unreadable": [str(u) for u in done.unreadable]})
    else:
        typer.echo(f"Resealed {done.resealed} TOTP seed(s) with the first key of ORDERLY_DATA_KEYS")
        for user_id in done.unreadable:
            err_console().print(f"[red]No configured key opens the seed of account {user_id}[/red]")
    if done.unreadable:
        raise typer.Exit(code=1)
