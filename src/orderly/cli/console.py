"""What every command shares: the Rich console on stderr, progress bars that only draw on a
real terminal, ``--json`` on stdout, and running async work with a container.

Rich treats ``FORCE_COLOR`` (set by many CI systems) as "this is a terminal" and would redraw
progress bars into the log; whether stderr is interactive is decided here from the file
itself, so progress appears only when a person is watching.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.errors import DomainError

T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]


def _stderr_is_terminal() -> bool:
    if os.environ.get("TTY_INTERACTIVE") == "0" or os.environ.get("TERM") == "dumb":
        return False
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # replaced by a buffer (tests, pipes)
        return False


def err_console() -> Console:
    """A console on the current stderr; interactive (progress, live redraws) only on a tty."""
    interactive = _stderr_is_terminal()
    return Console(stderr=True, force_terminal=interactive, force_interactive=interactive)


def progress(console: Console) -> Progress:
    """A progress bar that stays silent unless ``console`` is an interactive terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_interactive,
        transient=False,
    )


def print_json(data: Any) -> None:
    """One JSON document on stdout (dates and UUIDs as strings)."""
    sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
    sys.stdout.flush()


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; ``raise fail(...)`` ends with exit code 1."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def with_container(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    """Run one piece of work with a fresh container; a domain error ends the command cleanly."""

    async def run() -> T:
        container = Container.build(settings)
        try:
            return await work(container)
        finally:
            await container.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise fail(f"{exc.detail}{where}") from exc
