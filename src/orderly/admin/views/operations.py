"""Operations: the outbox (messages not handled yet; retry now, replay), sales reports
(request, download) and the administrators' audit record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqladmin import expose
from sqlalchemy import Select, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from orderly.admin.base import PanelAction, PanelLink, PanelView, current_admin, parse_id
from orderly.core.errors import DomainError
from orderly.models import AdminAudit, OutboxMessage, OutboxState, ReportStatus, SalesReport
from orderly.schemas.reports import SalesReportCreate


class OutboxAdmin(PanelView, model=OutboxMessage):
    """Messages not handled yet, each with its state: pending (waiting its turn), failing
    (a hand-over failed; the last error kept, due again after a backoff), in flight (handed
    over, not acknowledged yet) and abandoned (handed over the most times allowed and never
    acknowledged; the relay leaves it to an operator). A waiting message can be made due now,
    an abandoned one replayed as ``orderly outbox replay`` does."""

    name = "Outbox message"
    name_plural = "Outbox (unhandled)"
    icon = "fa-solid fa-inbox"
    category = "Operations"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        OutboxMessage.event_type,
        "state",
        OutboxMessage.created_at,
        OutboxMessage.available_at,
        OutboxMessage.attempts,
        OutboxMessage.deliveries,
        OutboxMessage.last_error,
    ]
    column_details_list: ClassVar[Any] = [
        OutboxMessage.id,
        OutboxMessage.event_type,
        "state",
        OutboxMessage.payload,
        OutboxMessage.created_at,
        OutboxMessage.available_at,
        OutboxMessage.attempts,
        OutboxMessage.last_error,
        OutboxMessage.published_at,
        OutboxMessage.deliveries,
        OutboxMessage.handled_at,
    ]
    column_searchable_list: ClassVar[Any] = [OutboxMessage.event_type]
    column_sortable_list: ClassVar[Any] = [
        OutboxMessage.created_at,
        OutboxMessage.available_at,
        OutboxMessage.attempts,
        OutboxMessage.deliveries,
    ]
    column_default_sort: ClassVar[Any] = [(OutboxMessage.created_at, False)]
    column_labels: ClassVar[Any] = {
        "state": "State",
        OutboxMessage.available_at: "Due at",
        OutboxMessage.published_at: "Last handed over",
        OutboxMessage.deliveries: "Hand-overs",
    }

    def list_query(self, request: Request) -> Select[Any]:
        return select(OutboxMessage).where(OutboxMessage.handled_at.is_(None))

    def count_query(self, request: Request) -> Select[Any]:
        return super().count_query(request).where(OutboxMessage.handled_at.is_(None))

    def state(self, message: OutboxMessage) -> OutboxState:
        max_deliveries = self.services().settings.outbox_max_deliveries
        return message.state(max_deliveries=max_deliveries, now=datetime.now(UTC))

    async def get_prop_value(self, obj: Any, prop: str) -> Any:
        if prop == "state":  # computed, not a column
            return self.state(obj)
        return await super().get_prop_value(obj, prop)

    def panel_actions(self, request: Request, obj: Any) -> list[PanelAction]:
        state = self.state(obj)
        if state in (OutboxState.PENDING, OutboxState.FAILING):
            return [PanelAction("retry", "Retry now")]
        if state is OutboxState.ABANDONED:
            return [PanelAction("replay", "Replay")]
        return []  # in flight: the relay hands it over again if unacknowledged

    async def run_action(self, request: Request, pk: str, action: str, form: FormData) -> str:
        if action == "retry":
            await self.services().outbox.retry(event_id=parse_id(pk))
            done = "Due now: the next relay pass hands it on"
        elif action == "replay":
            await self.services().outbox_operations.replay(
                event_id=parse_id(pk), only_abandoned=True
            )
            done = "Pending again: the next relay pass hands it over anew"
        else:
            return await super().run_action(request, pk, action, form)
        await self.services().audit.record(
            admin=current_admin(request),
            action=f"outbox.{action}",
            target_type="outbox",
            target_id=pk,
        )
        return done


class ReportAdmin(PanelView, model=SalesReport):
    name = "Sales report"
    name_plural = "Sales reports"
    icon = "fa-solid fa-file-csv"
    category = "Operations"
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        SalesReport.date_from,
        SalesReport.date_to,
        SalesReport.status,
        SalesReport.created_at,
    ]
    column_details_list: ClassVar[Any] = [
        SalesReport.id,
        SalesReport.date_from,
        SalesReport.date_to,
        SalesReport.status,
        SalesReport.requested_by,
        SalesReport.error,
        SalesReport.created_at,
        SalesReport.updated_at,
    ]
    column_sortable_list: ClassVar[Any] = [SalesReport.created_at, SalesReport.date_from]
    column_default_sort: ClassVar[Any] = [(SalesReport.created_at, True)]
    form_columns: ClassVar[Any] = [SalesReport.date_from, SalesReport.date_to]

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        body = SalesReportCreate.model_validate(data)
        admin = current_admin(request)
        report = await self.services().reports.request(
            requested_by=admin.id, date_from=body.date_from, date_to=body.date_to
        )
        await self.services().audit.record(
            admin=admin,
            action="report.request",
            target_type="sales_report",
            target_id=report.id,
            details={"from": str(body.date_from), "to": str(body.date_to)},
        )
        return report

    def panel_links(self, request: Request, obj: Any) -> list[PanelLink]:
        if obj.status is not ReportStatus.SUCCEEDED:
            return []
        url = request.url_for(f"admin:view-{self.identity}-download", pk=str(obj.id))
        return [PanelLink("Download CSV", str(url))]

    @expose("/download/{pk}", methods=["GET"])
    async def download(self, request: Request) -> Response:
        pk = request.path_params["pk"]
        try:
            name, content = await self.services().reports.download(report_id=parse_id(pk))
        except DomainError as exc:  # not ready yet, or unknown
            return self.refused(request, pk, exc)
        return Response(
            content,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


class AuditAdmin(PanelView, model=AdminAudit):
    name = "Audit record"
    name_plural = "Audit record"
    icon = "fa-solid fa-clipboard-list"
    category = "Operations"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        AdminAudit.occurred_at,
        AdminAudit.admin_id,
        AdminAudit.action,
        AdminAudit.target_type,
        AdminAudit.target_id,
    ]
    column_searchable_list: ClassVar[Any] = [AdminAudit.action, AdminAudit.target_id]
    column_sortable_list: ClassVar[Any] = [AdminAudit.occurred_at, AdminAudit.action]
    column_default_sort: ClassVar[Any] = [(AdminAudit.occurred_at, True)]
