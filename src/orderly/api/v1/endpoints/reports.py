from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from orderly.api.deps import Admin, AdminWriter, get_container
from orderly.api.openapi import problem_responses, raises
from orderly.api.problems import BackendUnavailable
from orderly.container import Container
from orderly.core.gate import DatabaseBusy
from orderly.models import ReportStatus, SalesReport
from orderly.schemas.common import RequestModel
from orderly.services.reports import (
    InvalidReportRange,
    ReportNotFound,
    ReportNotReady,
    ReportService,
)

router = APIRouter(prefix="/reports", tags=["reports"])


@raises(BackendUnavailable, DatabaseBusy)
async def get_reports(container: Annotated[Container, Depends(get_container)]) -> ReportService:
    return container.reports


Reports = Annotated[ReportService, Depends(get_reports)]


class SalesReportCreate(RequestModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")


class ReportRead(BaseModel):
    id: uuid.UUID
    task_id: str | None
    status: ReportStatus
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    download_url: str | None
    error: str | None

    @classmethod
    def of(cls, report: SalesReport) -> ReportRead:
        ready = report.status is ReportStatus.SUCCEEDED
        return cls(
            id=report.id,
            task_id=report.task_id,
            status=report.status,
            date_from=report.date_from,
            date_to=report.date_to,
            download_url=f"/api/v1/reports/{report.id}/download" if ready else None,
            error=report.error,
        )


@router.post(
    "/sales",
    status_code=status.HTTP_202_ACCEPTED,
    response_model_by_alias=True,
    responses=problem_responses(InvalidReportRange),
)
async def request_sales_report(
    body: SalesReportCreate, admin: AdminWriter, reports: Reports, response: Response
) -> ReportRead:
    """Queue a sales report (CSV of paid orders per day); poll the Location for its status."""
    report = await reports.request(
        requested_by=admin.id, date_from=body.date_from, date_to=body.date_to
    )
    response.headers["Location"] = f"/api/v1/reports/{report.id}"
    return ReportRead.of(report)


@router.get(
    "/{report_id}", response_model_by_alias=True, responses=problem_responses(ReportNotFound)
)
async def read_report(report_id: uuid.UUID, _: Admin, reports: Reports) -> ReportRead:
    return ReportRead.of(await reports.get(report_id=report_id))


@router.get(
    "/{report_id}/download",
    response_class=Response,
    responses={
        200: {
            "description": "The report as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **problem_responses(ReportNotFound, ReportNotReady),
    },
)
async def download_report(report_id: uuid.UUID, _: Admin, reports: Reports) -> Response:
    filename, content = await reports.download(report_id=report_id)
    return Response(
        content,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
