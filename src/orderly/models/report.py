"""A sales report requested by an administrator and produced by background jobs."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.events.types import SalesReportRequested
from orderly.models.base import Base, RecordsEvents, Timestamped, str_enum


class ReportStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SalesReport(RecordsEvents, Timestamped, Base):
    __tablename__ = "sales_reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    status: Mapped[ReportStatus] = mapped_column(
        str_enum(ReportStatus, "report_status", 16),
        default=ReportStatus.QUEUED,
    )
    task_id: Mapped[str | None] = mapped_column(String(100))
    content: Mapped[str | None] = mapped_column(Text)  # the CSV, kept in the database
    error: Mapped[str | None] = mapped_column(Text)

    @classmethod
    def request(
        cls, *, requested_by: uuid.UUID | None, date_from: date, date_to: date
    ) -> SalesReport:
        """A report waiting for the workers; records ``SalesReportRequested``."""
        report = cls(
            id=uuid.uuid4(),
            requested_by=requested_by,
            date_from=date_from,
            date_to=date_to,
            status=ReportStatus.QUEUED,
        )
        report.task_id = str(report.id)
        report.record(SalesReportRequested(report_id=report.id))
        return report
