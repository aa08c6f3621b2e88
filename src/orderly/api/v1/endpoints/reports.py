from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from orderly.api import links
from orderly.api.deps import Admin, AdminWriter, get_container
from orderly.api.openapi import problem_responses, raises
from orderly.api.problems import BackendUnavailable
from orderly.container import Container
from orderly.core.gate import DatabaseBusy
from orderly.models import SalesReport
from orderly.schemas.reports import ReportRead, SalesReportCreate
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


def _read(report: SalesReport) -> ReportRead:
    return ReportRead.of(report, download_url=links.report_download(report.id))


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
    return _read(report)


@router.get(
    "/{report_id}", response_model_by_alias=True, responses=problem_responses(ReportNotFound)
)
async def read_report(report_id: uuid.UUID, _: Admin, reports: Reports) -> ReportRead:
    return _read(await reports.get_report(report_id=report_id))


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
