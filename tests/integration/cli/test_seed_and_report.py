"""``orderly seed`` (demo data, bulk data) and ``orderly report sales`` without a terminal:
no progress output, ``--json`` parses, domain errors end with a message and exit code 1."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderly.container import Container
from orderly.models import Order
from orderly.services.orders import NewLine
from tests.integration.cli.conftest import Cli

PROGRESS_MARKS = ("0:00:", "\r", "\x1b[")  # elapsed-time column, redraws, terminal codes


def test_plain_seed_loads_the_demo_data_once(cli: Cli) -> None:
    first = cli.json("seed")
    assert first["loaded"] is True
    assert first["items"] == 64
    assert first["admin_email"] == "admin@example.com"
    assert cli.json("seed") == {"loaded": False}
    assert "already has data" in cli("seed").stdout


def test_bulk_seed_rows_are_consistent(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # CI systems set it; still no progress without a tty
    plain = cli("seed", "--items", "150", "--random-seed", "7")
    assert plain.stdout == ""
    assert "items" in plain.stderr
    assert not [mark for mark in PROGRESS_MARKS if mark in plain.stderr]

    seeded = cli.json(
        "seed", "--items", "150", "--customers", "4", "--orders", "60", "--random-seed", "7"
    )
    assert (seeded["items"], seeded["customers"], seeded["orders"]) == (150, 4, 60)
    # The same random seed gives both runs the same initial stock per item number: what the
    # second run's items lack is exactly what its orders reserved.
    tag = re.search(r"carry '(\w+)'", plain.stderr)
    assert tag is not None
    stock = dict(cli.sql("SELECT substr(sku, -7), stock FROM items WHERE sku LIKE :t",
                         t=f"SEED-{tag[1].upper()}%"))  # fmt: skip
    reserved = cli.sql(
        "SELECT substr(i.sku, -7), i.stock, coalesce(sum(l.quantity), 0) FROM items i "
        "LEFT JOIN order_lines l ON l.item_id = i.id WHERE i.sku LIKE :t GROUP BY i.id",
        t=f"SEED-{seeded['tag'].upper()}%",
    )
    assert len(reserved) == 150
    assert all(stock[n] == left + held for n, left, held in reserved)
    assert sum(held for _, _, held in reserved) == seeded["units_reserved"] > 0
    assert cli.sql(
        "SELECT count(*) FROM orders o WHERE total_minor != (SELECT sum(quantity * "
        "unit_price_minor) FROM order_lines WHERE order_id = o.id)"
    ) == [(0,)]
    assert cli.sql("SELECT event_type, count(*) FROM outbox GROUP BY 1 ORDER BY 1") == [
        ("OrderPlaced", 60),
        ("UserRegistered", 4),
    ]


def test_a_seeded_order_is_the_row_the_order_service_writes(cli: Cli) -> None:
    seeded = cli.json("seed", "--items", "5", "--customers", "1", "--orders", "1")
    [(customer_id,)] = cli.sql("SELECT id FROM users")
    lines = [
        NewLine(item_id=uuid.UUID(str(item_id)), quantity=quantity)
        for item_id, quantity in cli.sql(
            "SELECT item_id, quantity FROM order_lines ORDER BY position"
        )
    ]
    cli.sql("UPDATE items SET stock = stock + 10")  # enough to place the same order again

    async def place(container: Container) -> Order:
        async with container.uow(read_only=True) as uow:
            customer = await uow.users.get(uuid.UUID(str(customer_id)))
        assert customer is not None
        return (await container.orders.place(customer=customer, lines=lines)).order

    cli.run(place)
    columns = (
        "o.status, o.total_minor, o.currency, o.payment_method, o.idempotency_key, "
        "o.request_fingerprint, o.timeline_position, t.sequence, t.type, t.from_status, "
        "t.to_status, t.actor_kind, t.actor_id"
    )
    rows = cli.sql(
        f"SELECT {columns} FROM orders o JOIN order_timeline t ON t.order_id = o.id "  # noqa: S608
        "WHERE o.user_id = :u",
        u=customer_id,
    )
    assert len(rows) == 2
    assert rows[0] == rows[1]
    assert seeded["orders"] == 1


def test_bulk_seed_refusals(cli: Cli) -> None:
    result = cli("seed", "--orders", "3", code=1)
    assert "need items and customers" in result.stderr
    cli("seed", "--items", "-1", code=2)
    assert "unsupported currency" in cli("seed", "--items", "2", "--currency", "XX", code=1).stderr
    assert cli.sql("SELECT count(*) FROM items") == [(0,)]


def test_sales_report_to_a_file_and_to_stdout(cli: Cli, tmp_path: Path) -> None:
    cli.json("seed", "--items", "40", "--customers", "3", "--orders", "10")
    cli.sql("UPDATE orders SET status = 'paid' WHERE id IN (SELECT id FROM orders LIMIT 6)")
    [(cents, units)] = cli.sql(
        "SELECT sum(total_minor), sum((SELECT sum(quantity) FROM order_lines "
        "WHERE order_id = orders.id)) FROM orders WHERE status = 'paid'"
    )
    today = datetime.now(UTC).date()
    month_ago, today_text = (today - timedelta(days=30)).isoformat(), today.isoformat()
    out = tmp_path / "sales.csv"
    summary = cli.json("report", "sales", "--from", month_ago, "--to", today_text,
                       "--out", str(out))  # fmt: skip
    assert summary["totals"] == [
        {"currency": "EUR", "orders": 6, "items": units, "revenue": f"{cents / 100:.2f}"}
    ]
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows == [
        {"day": today_text, "currency": "EUR", "orders": "6", "items": str(units),
         "revenue": f"{cents / 100:.2f}"}
    ]  # fmt: skip

    table = cli("report", "sales", "--from", today_text, "--to", today_text, "--out", "-")
    assert table.stdout == out.read_text()  # the CSV alone on stdout
    assert "EUR" in table.stderr
    assert not [mark for mark in PROGRESS_MARKS if mark in table.stderr]


def test_sales_report_refusals(cli: Cli, tmp_path: Path) -> None:
    backwards = cli("report", "sales", "--from", "2026-02-01", "--to", "2026-01-01",
                    "--out", str(tmp_path / "x.csv"), code=1)  # fmt: skip
    assert "'from' must not be after 'to'" in backwards.stderr
    assert not (tmp_path / "x.csv").exists()
    too_long = cli("report", "sales", "--from", "2020-01-01", "--to", "2022-01-01",
                   "--out", str(tmp_path / "x.csv"), code=1)  # fmt: skip
    assert "At most 366 days" in too_long.stderr
    assert cli("report", "sales", "--from", "yesterday", "--to", "2022-01-01",
               "--out", "x.csv", code=2).exit_code == 2  # fmt: skip
    missing = cli("report", "sales", "--from", "2022-01-01", "--to", "2022-01-02",
                  "--out", str(tmp_path / "no" / "such" / "dir.csv"), code=1)  # fmt: skip
    assert "cannot write" in missing.stderr
