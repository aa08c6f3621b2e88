"""``orderly report sales``: the sales report's CSV written to a file, here and now."""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orderly.cli.console import JsonOption, err_console, fail, print_json, progress, with_container
from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.money import to_major
from orderly.services.reports import Rows, sales_csv

app = typer.Typer(help="Reports", no_args_is_help=True)
CHUNK_DAYS = 7  # the range is read a week at a time: progress, and bounded memory


def _totals(rows: Rows) -> list[dict[str, object]]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        bucket = sums[str(row["currency"])]
        bucket[0] += int(row["orders"])
        bucket[1] += int(row["items"])
        bucket[2] += int(row["revenue_minor"])
    return [
        {"currency": c, "orders": n, "items": i, "revenue": str(to_major(cents, c))}
        for c, (n, i, cents) in sorted(sums.items())
    ]


@app.command()
def sales(
    date_from: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC)")
    ],
    date_to: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the CSV ('-': stdout)")],
    as_json: JsonOption = False,
) -> None:
    """Paid and fulfilled orders placed in the range, per day and currency, as the sales
    report's CSV (the same as the API's report; no report record, no mail)."""
    first, last = date_from.date(), date_to.date()
    if as_json and str(out) == "-":
        raise fail("--json writes to stdout; give --out a file")
    console = err_console()
    days = (last - first).days + 1
    with progress(console) as bar:
        task = bar.add_task("sales", total=max(days, 0))

        async def run(container: Container) -> Rows:
            container.reports.check_range(first, last)
            rows: Rows = []
            start = first
            while start <= last:
                end = min(start + timedelta(days=CHUNK_DAYS - 1), last)
                rows += await container.reports.sales_rows(date_from=start, date_to=end)
                bar.advance(task, (end - start).days + 1)
                start = end + timedelta(days=1)
            return rows

        rows = with_container(Settings(), run)
    content = sales_csv(rows)
    if str(out) == "-":
        sys.stdout.write(content)
    else:
        try:
            out.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc.strerror}") from exc
    totals = _totals(rows)
    if as_json:
        print_json({"from": first, "to": last, "out": str(out), "days": days, "totals": totals})
        return
    console.print(f"Sales from {first} to {last} written to {out}")
    table = Table()
    for name in ("currency", "orders", "items", "revenue"):
        table.add_column(name, justify="left" if name == "currency" else "right")
    for row in totals:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    console.print(
        table if totals else f"No paid orders from {first} to {last}; {out} has the header only"
    )
