"""The keys that seal the TOTP seeds at rest: ``orderly keys new|reseal``.

Rotation: ``orderly keys new``, put the key first in ORDERLY_DATA_KEYS (the old ones after
it) on every process, ``orderly keys reseal``, then drop the old keys.
"""

from __future__ import annotations

import typer

from orderly.cli.console import JsonOption, print_json, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.crypto import new_key

app = typer.Typer(help="The keys sealing the TOTP seeds (ORDERLY_DATA_KEYS)", no_args_is_help=True)


@app.command()
def new() -> None:
    """Print a new random key for ORDERLY_DATA_KEYS."""
    typer.echo(new_key())


@app.command()
def reseal(as_json: JsonOption = False) -> None:
    """Seal every stored TOTP seed again with the first key of ORDERLY_DATA_KEYS; afterwards
    the keys after it can be dropped."""

    async def run(container: Container) -> int:
        return await container.two_factor.reseal()

    count = with_container(Settings(), run)
    if as_json:
        print_json({"resealed": count})
        return
    typer.echo(f"Resealed {count} TOTP seed(s) with the first key of ORDERLY_DATA_KEYS")
