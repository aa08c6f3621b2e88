"""Admin API of outbound webhooks: endpoints, their signing secrets, the delivery log, replay."""

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
from orderly.models.webhook import DeliveryStatus
from orderly.schemas.common import Page, PaginationQuery
from orderly.schemas.webhooks import (
    ReplayedCount,
    ReplayFailed,
    WebhookDeliveryDetail,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from orderly.services.webhooks import (
    UnknownEventType,
    WebhookDeliveryNotFound,
    WebhookEndpointDisabledError,
    WebhookEndpointNotFound,
    WebhookService,
    WebhookUrlRefused,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
ENDPOINT = "/endpoints/{endpoint_id}"


@raises(BackendUnavailable, DatabaseBusy)
async def get_webhooks(container: Annotated[Container, Depends(get_container)]) -> WebhookService:
    return container.webhooks


Webhooks = Annotated[WebhookService, Depends(get_webhooks)]


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(WebhookUrlRefused, UnknownEventType),
)
async def create_endpoint(
    body: WebhookEndpointCreate, _: AdminWriter, webhooks: Webhooks, response: Response
) -> WebhookEndpointWithSecret:
    """Register an endpoint. The answer carries its signing secret, shown this once."""
    created = await webhooks.register(
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        enabled=body.enabled,
    )
    response.headers["Location"] = links.webhook_endpoint(created.endpoint.id)
    return WebhookEndpointWithSecret.of(created.endpoint, created.secret)


@router.get("/endpoints")
async def list_endpoints(
    _: Admin, webhooks: Webhooks, page: PaginationQuery
) -> Page[WebhookEndpointRead]:
    found, total = await webhooks.list_endpoints(limit=page.limit, offset=page.offset)
    return Page[WebhookEndpointRead](
        items=[WebhookEndpointRead.model_validate(e) for e in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(ENDPOINT, responses=problem_responses(WebhookEndpointNotFound))
async def read_endpoint(
    endpoint_id: uuid.UUID, _: Admin, webhooks: Webhooks
) -> WebhookEndpointRead:
    return WebhookEndpointRead.model_validate(await webhooks.get_endpoint(endpoint_id=endpoint_id))


@router.patch(
    ENDPOINT,
    responses=problem_responses(WebhookEndpointNotFound, WebhookUrlRefused, UnknownEventType),
)
async def change_endpoint(
    endpoint_id: uuid.UUID, body: WebhookEndpointUpdate, _: AdminWriter, webhooks: Webhooks
) -> WebhookEndpointRead:
    """Change the URL, description, event types; ``enabled: false`` fails what is waiting,
    ``enabled: true`` resumes (replay what failed meanwhile)."""
    endpoint = await webhooks.change(
        endpoint_id=endpoint_id,
        url=body.url,
        description=body.description,
        enabled=body.enabled,
        event_types=body.event_types,
    )
    return WebhookEndpointRead.model_validate(endpoint)


@router.delete(
    ENDPOINT,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(WebhookEndpointNotFound),
)
async def delete_endpoint(endpoint_id: uuid.UUID, _: AdminWriter, webhooks: Webhooks) -> None:
    """Delete the endpoint with its deliveries and their log."""
    await webhooks.delete(endpoint_id=endpoint_id)


@router.post(ENDPOINT + "/rotate-secret", responses=problem_responses(WebhookEndpointNotFound))
async def rotate_secret(
    endpoint_id: uuid.UUID, _: AdminWriter, webhooks: Webhooks
) -> WebhookEndpointWithSecret:
    """A new signing secret, shown this once; the old one also signs until
    ``previous_secret_until`` (ORDERLY_WEBHOOK_SECRET_OVERLAP), so both verify meanwhile."""
    rotated = await webhooks.rotate_secret(endpoint_id=endpoint_id)
    return WebhookEndpointWithSecret.of(rotated.endpoint, rotated.secret)


@router.get(ENDPOINT + "/deliveries", responses=problem_responses(WebhookEndpointNotFound))
async def list_deliveries(
    endpoint_id: uuid.UUID,
    _: Admin,
    webhooks: Webhooks,
    page: PaginationQuery,
    status: DeliveryStatus | None = None,
) -> Page[WebhookDeliveryRead]:
    """The endpoint's deliveries, newest first, optionally in one status."""
    found, total = await webhooks.deliveries(
        endpoint_id=endpoint_id, status=status, limit=page.limit, offset=page.offset
    )
    return Page[WebhookDeliveryRead](
        items=[WebhookDeliveryRead.of(d) for d in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    ENDPOINT + "/deliveries/{delivery_id}", responses=problem_responses(WebhookDeliveryNotFound)
)
async def read_delivery(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, _: Admin, webhooks: Webhooks
) -> WebhookDeliveryDetail:
    """A delivery, the body sent, and every attempt (status, latency, answer or error)."""
    delivery, attempts = await webhooks.delivery(endpoint_id=endpoint_id, delivery_id=delivery_id)
    return WebhookDeliveryDetail.with_attempts(delivery, attempts)


@router.post(
    ENDPOINT + "/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        WebhookEndpointNotFound, WebhookDeliveryNotFound, WebhookEndpointDisabledError
    ),
)
async def replay_delivery(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, _: AdminWriter, webhooks: Webhooks
) -> WebhookDeliveryRead:
    """Send it again now: the same webhook-id, a fresh timestamp and signature."""
    delivery = await webhooks.replay(endpoint_id=endpoint_id, delivery_id=delivery_id)
    return WebhookDeliveryRead.of(delivery)


@router.post(
    ENDPOINT + "/deliveries/replay-failed",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(WebhookEndpointNotFound, WebhookEndpointDisabledError),
)
async def replay_failed(
    endpoint_id: uuid.UUID, body: ReplayFailed, _: AdminWriter, webhooks: Webhooks
) -> ReplayedCount:
    """Send again every failed delivery created since ``since``."""
    count = await webhooks.replay_failed(endpoint_id=endpoint_id, since=body.since)
    return ReplayedCount(replayed=count)
