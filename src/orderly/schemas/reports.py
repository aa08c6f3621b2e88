"""Sales reports: the request for one and its state as the API shows it."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from orderly.models import ReportStatus, SalesReport
from orderly.schemas.common import JsonDate, RequestModel


class SalesReportCreate(RequestModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    date_from: JsonDate = Field(alias="from")
    date_to: JsonDate = Field(alias="to")


class ReportRead(BaseModel):
    id: uuid.UUID
    task_id: str | None
    status: ReportStatus
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    download_url: str | None
    error: str | None

    @classmethod
    def of(cls, report: SalesReport, *, download_url: str) -> ReportRead:
        """``download_url`` is shown once the report has succeeded."""
        ready = report.status is ReportStatus.SUCCEEDED
        return cls(
            id=report.id,
            task_id=report.task_id,
            status=report.status,
            date_from=report.date_from,
            date_to=report.date_to,
            download_url=download_url if ready else None,
            error=report.error,
        )
