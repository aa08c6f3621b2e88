"""Webhook endpoints, deliveries and attempts as the admin API shows them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from orderly.events.webhooks import WEBHOOK_EVENTS
from orderly.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from orderly.models.webhook import DeliveryStatus
from orderly.schemas.common import JsonDateTime, RequestModel
from orderly.schemas.text import MultiLine, Omittable, SingleLine

Url = Annotated[str, Field(min_length=1, max_length=2000), SingleLine]
Description = Annotated[str, Field(max_length=500), MultiLine]
EventType = Annotated[
    str, Field(min_length=1, max_length=50, json_schema_extra={"enum": list(WEBHOOK_EVENTS)})
]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(WEBHOOK_EVENTS))]


class WebhookEndpointCreate(RequestModel):
    url: Url = Field(description="https in production; must reach a public address")
    description: Description = ""
    enabled: bool = True
    event_types: EventTypes


class WebhookEndpointUpdate(RequestModel):
    url: Omittable[Url] = None
    description: Omittable[Description] = None
    enabled: Omittable[bool] = None
    event_types: Omittable[EventTypes] = None


class WebhookEndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    enabled: bool
    event_types: list[str]
    disabled_reason: str | None = Field(description="gone (410) or failing; None if by hand")
    failing_since: datetime | None
    previous_secret_until: datetime | None = Field(
        description="until when the secret before the last rotation still signs"
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointRead):
    secret: str = Field(description="whsec_...: shown this once; keep it to verify signatures")

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, secret: str) -> WebhookEndpointWithSecret:
        return cls.model_validate(
            {**WebhookEndpointRead.model_validate(endpoint).model_dump(), "secret": secret}
        )


class WebhookDeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    webhook_id: str = Field(description="the webhook-id header: the same on every attempt")
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="when pending: the next attempt")
    last_attempt_at: datetime | None
    last_status_code: int | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> WebhookDeliveryRead:
        read = cls.model_validate(delivery)
        if delivery.status is not DeliveryStatus.PENDING:
            read.next_attempt_at = None
        return read


class WebhookAttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response: str | None = Field(description="the first KiB of the answer")
    error: str | None = Field(description="why there was no answer")


class WebhookDeliveryDetail(WebhookDeliveryRead):
    payload: dict[str, Any] = Field(description="the JSON body sent")
    attempt_log: list[WebhookAttemptRead]

    @classmethod
    def with_attempts(
        cls, delivery: WebhookDelivery, attempts: list[WebhookAttempt]
    ) -> WebhookDeliveryDetail:
        return cls(
            **WebhookDeliveryRead.of(delivery).model_dump(),
            payload=json.loads(delivery.body),
            attempt_log=[WebhookAttemptRead.model_validate(a) for a in attempts],
        )


class ReplayFailed(RequestModel):
    since: JsonDateTime = Field(description="replay failed deliveries created since then")


class ReplayedCount(BaseModel):
    replayed: int
