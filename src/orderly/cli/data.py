"""The database's schema and data: migrate, and seed (demo data, or bulk data for trials)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from orderly import migrate as migrations
from orderly.cli.console import JsonOption, err_console, print_json, progress, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.security import PasswordHasher
from orderly.demo import SeedResult, seed_if_empty
from orderly.services.seeding import BulkSeeder, BulkSeedResult, SeedPlan

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
def seed(
    *,
    items: Annotated[int, typer.Option(min=0, help="Bulk: this many catalog items")] = 0,
    customers: Annotated[int, typer.Option(min=0, help="Bulk: this many customers")] = 0,
    orders: Annotated[
        int, typer.Option(min=0, help="Bulk: this many orders (of this run's items/customers)")
    ] = 0,
    currency: Annotated[str, typer.Option(help="Bulk: the items' currency")] = "EUR",
    payment_method: Annotated[
        str | None,
        typer.Option(help="Bulk: the orders' payment method (pm_card_visa: workers charge them)"),
    ] = None,
    random_seed: Annotated[int | None, typer.Option(help="Bulk: repeatable shapes")] = None,
    as_json: JsonOption = False,
) -> None:
    """Without options: load the demo administrator and catalog if the database is empty.

    With --items/--customers/--orders: add that much data in bulk (batched INSERTs of the rows
    the use cases write, their outbox events included; unpaid orders reserve stock and expire
    like real ones). Every sku and e-mail carries a tag of the run, so runs can be repeated.
    """
    settings = Settings()
    if not (items or customers or orders):
        demo = with_container(settings, seed_if_empty)
        if as_json:
            print_json({"loaded": demo is not None, **(asdict(demo) if demo else {})})
            return
        if demo is None:
            typer.echo("The database already has data; nothing loaded")
        report_seed(demo)
        return
    plan = SeedPlan(
        items=items,
        customers=customers,
        orders=orders,
        currency=currency,
        payment_method=payment_method,
        max_lines=min(3, settings.order_max_lines),
        seed=random_seed,
    )
    console = err_console()
    started = time.perf_counter()
    with progress(console) as bar:
        tasks = {
            phase: bar.add_task(f"{phase:<9}", total=count)
            for phase, count in (("items", items), ("customers", customers), ("orders", orders))
            if count
        }

        async def run(container: Container) -> BulkSeedResult:
            seeder = BulkSeeder(container.units_of_work, hasher=PasswordHasher())
            return await seeder.seed(plan, advance=lambda phase, n: bar.advance(tasks[phase], n))

        result = with_container(settings, run)
    seconds = round(time.perf_counter() - started, 2)
    if as_json:
        print_json({**asdict(result), "seconds": seconds})
        return
    console.print(f"Seeded in {seconds} s; skus and e-mails of this run carry {result.tag!r}")
    table = Table()
    table.add_column("rows")
    table.add_column("count", justify="right")
    for name in ("items", "customers", "orders", "units_reserved"):
        table.add_row(name.replace("_", " "), f"{getattr(result, name):,}")
    console.print(table)
    if result.customer_password:
        console.print(
            f"Customers {result.customer_emails[0]} ... sign in with the password "
            f"(shown once): {result.customer_password}"
        )
