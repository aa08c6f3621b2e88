"""``orderly projections rebuild``: the read models recomputed from the write tables."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from orderly.cli.console import JsonOption, err_console, print_json, progress, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.projections import orders

app = typer.Typer(help="Read models kept with every change (CQRS)", no_args_is_help=True)


@app.command()
def rebuild(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Orders per transaction")] = 500,
    as_json: JsonOption = False,
) -> None:
    """Recompute every order's row of the orders' read model (order_views) from the orders,
    their lines, the items and the timelines. Safe while the API runs: each batch locks its
    orders, so no change is lost. Use it after restoring a backup or after orders were
    written by a process that did not keep the read model."""
    console = err_console()

    async def run(container: Container) -> tuple[int, float]:
        started = time.monotonic()
        async with container.sessions.writer() as session:
            total = await orders.count_orders(session)
        with progress(console) as bar:
            task = bar.add_task("orders", total=total)
            done = await orders.rebuild(
                container.sessions.writer,
                batch=batch,
                advance=lambda n: bar.advance(task, n),
            )
        return done, time.monotonic() - started

    done, seconds = with_container(Settings(), run)
    if as_json:
        print_json({"projection": "order_views", "orders": done, "seconds": round(seconds, 2)})
        return
    console.print(f"Rebuilt order_views: {done:,} orders in {seconds:.1f} s")
