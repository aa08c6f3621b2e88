"""``orderly outbox status|retry|replay``: look after the events waiting to be handed over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.box import SIMPLE_HEAD
from rich.table import Table

from orderly.cli.console import JsonOption, err_console, print_json, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.repositories.outbox import OutboxCounts
from orderly.services.outbox_operations import Replayed

app = typer.Typer(
    help="The outbox: events committed with their change, handed over by the relay",
    no_args_is_help=True,
)


def _age(oldest: datetime | None, now: datetime) -> float | None:
    return None if oldest is None else round((now - oldest).total_seconds(), 1)


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Messages per event type: pending (waiting for the relay), failed (the hand-over
    failed; retried with backoff), in flight (handed to the broker, not handled yet),
    abandoned (handed over the most times allowed and never handled: see ``replay``),
    handled, and the oldest pending one's age."""

    async def run(container: Container) -> list[OutboxCounts]:
        return await container.outbox_operations.status()

    counts = with_container(Settings(), run)
    now = datetime.now(UTC)
    rows = [
        {
            "event_type": c.event_type,
            "pending": c.pending,
            "failed": c.failed,
            "in_flight": c.in_flight,
            "abandoned": c.abandoned,
            "handled": c.handled,
            "oldest_pending_age_seconds": _age(c.oldest_pending, now),
        }
        for c in counts
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(
        title="Outbox (oldest: age of the oldest pending)", title_justify="left", box=SIMPLE_HEAD
    )
    columns = ("event type", "pending", "failed", "in flight", "abandoned", "handled", "oldest")
    table.add_column(columns[0], no_wrap=True)
    for name in columns[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        age = row["oldest_pending_age_seconds"]
        table.add_row(
            str(row["event_type"]),
            f"{row['pending']:,}",
            f"{row['failed']:,}",
            f"{row['in_flight']:,}",
            f"{row['abandoned']:,}",
            f"{row['handled']:,}",
            "-" if age is None else f"{age:,.0f} s",
        )
    console = err_console()
    console.print(table if rows else "The outbox is empty")


@app.command()
def retry(
    event_type: Annotated[
        str | None, typer.Option(help="Only messages of this event type, e.g. OrderPlaced")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Failed messages back to pending, due now (attempts and error cleared): the relay hands
    them over on its next pass instead of waiting out their backoff."""

    async def run(container: Container) -> int:
        return await container.outbox_operations.retry_failed(event_type=event_type)

    count = with_container(Settings(), run)
    if as_json:
        print_json({"retried": count})
        return
    typer.echo(f"{count} failed message(s) pending again", err=True)


@app.command()
def replay(
    event_id: Annotated[uuid.UUID, typer.Argument(help="The message's id (the event id)")],
    rerun: Annotated[
        list[str] | None,
        typer.Option(help="Run this handler again although it finished the event (repeatable)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Hand a message over again, e.g. one abandoned after its task failed in the worker
    on every delivery, or a handled one whose mail should go out again (--rerun).

    Safe to repeat: every handler is idempotent. Handlers that change state check it (a paid
    order is not charged twice; a webhook delivery exists once per endpoint), and handlers
    with no state to check (mails, reports) record when they finished an event and are
    skipped. To send such a mail again, name its handler with --rerun (the error message
    lists the event type's handlers).
    """

    async def run(container: Container) -> Replayed:
        return await container.outbox_operations.replay(event_id=event_id, rerun=rerun or [])

    replayed = with_container(Settings(), run)
    if as_json:
        print_json(
            {"id": replayed.event_id, "event_type": replayed.event_type, "rerun": replayed.rerun}
        )
        return
    again = f"; running again: {', '.join(replayed.rerun)}" if replayed.rerun else ""
    typer.echo(
        f"{replayed.event_type} {replayed.event_id} is pending: the relay hands it over "
        f"on its next pass{again}",
        err=True,
    )
