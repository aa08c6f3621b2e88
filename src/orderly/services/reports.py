"""Sales reports: requested through the API (or daily by beat), produced by background jobs in
three steps (collect -> render CSV -> notify), each a use case of its own."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog

from orderly.core.errors import Conflict, NotFound, Unprocessable
from orderly.core.money import to_major
from orderly.integrations.email import Mailer
from orderly.models import Order, ReportStatus, SalesReport
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)
MAX_RANGE_DAYS = 366
Rows = list[dict[str, Any]]


class ReportNotFound(NotFound):
    code = "report-not-found"


class InvalidReportRange(Unprocessable):
    code = "invalid-report-range"


class ReportNotReady(Conflict):
    code = "report-not-ready"


class ReportService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        mailer: Mailer,
        download_url: Callable[[uuid.UUID], str],
    ) -> None:
        """``download_url`` makes the address of a report's CSV for the mail to the admins:
        the API's paths are not the service's to know, the composition root passes it in."""
        self._uow = uow
        self._mailer = mailer
        self._download_url = download_url

    async def request(
        self, *, requested_by: uuid.UUID | None, date_from: date, date_to: date
    ) -> SalesReport:
        self.check_range(date_from, date_to)
        report = SalesReport.request(
            requested_by=requested_by, date_from=date_from, date_to=date_to
        )
        async with self._uow() as uow:
            uow.reports.add(report)
            await uow.commit()
        return report

    async def get_report(self, *, report_id: uuid.UUID) -> SalesReport:
        async with self._uow(read_only=True) as uow:
            report = await uow.reports.get(report_id)
        if report is None:
            raise ReportNotFound(f"No report with id {report_id}")
        return report

    async def download(self, *, report_id: uuid.UUID) -> tuple[str, str]:
        """The CSV of a finished report and a file name for it."""
        report = await self.get_report(report_id=report_id)
        if report.status is not ReportStatus.SUCCEEDED or report.content is None:
            raise ReportNotReady(f"The report is {report.status.value}, not ready for download")
        return f"sales-{report.date_from}-{report.date_to}.csv", report.content

    def check_range(self, date_from: date, date_to: date) -> None:
        if date_from > date_to:
            raise InvalidReportRange("'from' must not be after 'to'", field="from")
        if (date_to - date_from).days >= MAX_RANGE_DAYS:
            raise InvalidReportRange(f"At most {MAX_RANGE_DAYS} days per report", field="to")

    async def sales_rows(self, *, date_from: date, date_to: date) -> Rows:
        """Paid orders placed in the range (whole days, UTC), summed per day and currency;
        a read of its own (``orderly report sales`` reads a range in parts)."""
        self.check_range(date_from, date_to)
        async with self._uow(read_only=True) as uow:
            orders = await uow.orders.paid_between(*_day_bounds(date_from, date_to))
        return _sum_per_day(orders)

    async def collect(self, *, report_id: uuid.UUID) -> Rows:
        """Step 1: paid orders of the range, summed per day and currency."""
        async with self._uow() as uow:
            report = await uow.reports.get(report_id)
            if report is None:
                raise ReportNotFound(f"No report with id {report_id}")
            report.status = ReportStatus.STARTED
            orders = await uow.orders.paid_between(*_day_bounds(report.date_from, report.date_to))
            await uow.commit()
        return _sum_per_day(orders)

    async def render(self, *, report_id: uuid.UUID, rows: Rows) -> None:
        """Step 2: the CSV, stored with the report."""
        content = sales_csv(rows)
        async with self._uow() as uow:
            report = await uow.reports.get(report_id)
            if report is None:
                raise ReportNotFound(f"No report with id {report_id}")
            report.content = content
            report.status = ReportStatus.SUCCEEDED
            await uow.commit()

    async def notify(self, *, report_id: uuid.UUID, orders: int) -> int:
        """Step 3: mail the administrators a link; returns how many were told."""
        async with self._uow() as uow:
            report = await uow.reports.get(report_id)
            admins = await uow.users.active_admins()
        if report is None:
            raise ReportNotFound(f"No report with id {report_id}")
        for admin in admins:
            message = self._mailer.compose(
                to=admin.email,
                template="sales_report",
                message_id=uuid.uuid5(report.id, admin.email),
                date_from=report.date_from.isoformat(),
                date_to=report.date_to.isoformat(),
                download_url=self._download_url(report.id),
                orders=orders,
            )
            await self._mailer.send(message)
        return len(admins)

    async def produce(self, *, report_id: uuid.UUID) -> None:
        """All three steps in this process (the embedded runner's way)."""
        try:
            rows = await self.collect(report_id=report_id)
            await self.render(report_id=report_id, rows=rows)
        except ReportNotFound:
            raise
        except Exception as exc:
            await self.fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")
            raise
        await self.notify(report_id=report_id, orders=sum(int(r["orders"]) for r in rows))

    async def fail(self, *, report_id: uuid.UUID, error: str) -> None:
        async with self._uow() as uow:
            report = await uow.reports.get(report_id)
            if report is not None:
                report.status = ReportStatus.FAILED
                report.error = error[:2000]
                await uow.commit()


def _day_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    start = datetime.combine(date_from, time.min, tzinfo=UTC)
    return start, datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)


def _sum_per_day(orders: Iterable[Order]) -> Rows:
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for order in orders:
        bucket = totals[(order.created_at.date().isoformat(), order.currency)]
        bucket[0] += 1
        bucket[1] += sum(line.quantity for line in order.lines)
        bucket[2] += order.total_minor
    return [
        {"day": day, "currency": currency, "orders": n, "items": items, "revenue_minor": cents}
        for (day, currency), (n, items, cents) in sorted(totals.items())
    ]


def sales_csv(rows: Rows) -> str:
    """The report's CSV: a line per day and currency, revenue in major units."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["day", "currency", "orders", "items", "revenue"])
    for row in rows:
        revenue = to_major(int(row["revenue_minor"]), str(row["currency"]))
        writer.writerow([row["day"], row["currency"], row["orders"], row["items"], revenue])
    return buffer.getvalue()
