"""Webhook endpoints (read-only here: never their secrets) and deliveries, with replay
through WebhookService (same webhook-id, a fresh signature)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin.filters import StaticValuesFilter
from starlette.datastructures import FormData
from starlette.requests import Request

from orderly.admin.base import PanelAction, PanelView, current_admin, parse_id
from orderly.models import WebhookDelivery, WebhookEndpoint
from orderly.models.webhook import DeliveryStatus
from orderly.services.webhooks import WebhookDeliveryNotFound


class WebhookEndpointAdmin(PanelView, model=WebhookEndpoint):
    name = "Webhook endpoint"
    name_plural = "Webhook endpoints"
    icon = "fa-solid fa-satellite-dish"
    category = "Webhooks"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        WebhookEndpoint.url,
        WebhookEndpoint.enabled,
        WebhookEndpoint.event_types,
        WebhookEndpoint.failing_since,
        WebhookEndpoint.disabled_reason,
    ]
    column_details_list: ClassVar[Any] = [
        WebhookEndpoint.id,
        WebhookEndpoint.url,
        WebhookEndpoint.description,
        WebhookEndpoint.enabled,
        WebhookEndpoint.event_types,
        WebhookEndpoint.failing_since,
        WebhookEndpoint.disabled_reason,
        WebhookEndpoint.created_at,
        WebhookEndpoint.updated_at,
    ]
    column_searchable_list: ClassVar[Any] = [WebhookEndpoint.url, WebhookEndpoint.description]
    column_sortable_list: ClassVar[Any] = [WebhookEndpoint.created_at, WebhookEndpoint.url]


class WebhookDeliveryAdmin(PanelView, model=WebhookDelivery):
    name = "Webhook delivery"
    name_plural = "Webhook deliveries"
    icon = "fa-solid fa-paper-plane"
    category = "Webhooks"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        WebhookDelivery.event_type,
        WebhookDelivery.status,
        WebhookDelivery.attempts,
        WebhookDelivery.last_status_code,
        WebhookDelivery.next_attempt_at,
        WebhookDelivery.endpoint_id,
    ]
    column_searchable_list: ClassVar[Any] = [WebhookDelivery.event_type]
    column_sortable_list: ClassVar[Any] = [
        WebhookDelivery.created_at,
        WebhookDelivery.next_attempt_at,
        WebhookDelivery.attempts,
    ]
    column_default_sort: ClassVar[Any] = [(WebhookDelivery.created_at, True)]
    column_filters: ClassVar[Any] = [
        StaticValuesFilter(
            WebhookDelivery.status,
            values=[(s.value, s.value) for s in DeliveryStatus],
            title="Status",
        ),
    ]

    def panel_actions(self, request: Request, obj: Any) -> list[PanelAction]:
        return [PanelAction("replay", "Replay (same webhook-id)")]

    async def run_action(self, request: Request, pk: str, action: str, form: FormData) -> str:
        if action != "replay":
            return await super().run_action(request, pk, action, form)
        delivery_id = parse_id(pk)
        delivery = await self._get_object_by_pk(self._stmt_by_identifier(pk))
        if delivery is None:
            raise WebhookDeliveryNotFound(f"No delivery with id {pk}")
        endpoint_id = delivery.endpoint_id
        await self.services().webhooks.replay(endpoint_id=endpoint_id, delivery_id=delivery_id)
        await self.services().audit.record(
            admin=current_admin(request),
            action="webhook.replay",
            target_type="webhook_delivery",
            target_id=delivery_id,
            details={"endpoint_id": str(endpoint_id)},
        )
        return "Queued again: it goes out at the next sending pass"
