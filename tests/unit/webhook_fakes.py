"""In-memory webhook endpoints, deliveries and attempts, as ``WebhookRepository`` keeps them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from orderly.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from orderly.models.webhook import DeliveryStatus


class FakeWebhooks:
    def __init__(self) -> None:
        self.endpoints: dict[uuid.UUID, WebhookEndpoint] = {}
        self.rows: dict[uuid.UUID, WebhookDelivery] = {}
        self.attempt_log: list[WebhookAttempt] = []

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.endpoints[endpoint.id] = endpoint

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        return self.endpoints.get(endpoint_id)

    async def get_for_update(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        return self.endpoints.get(endpoint_id)

    async def page(self, *, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]:
        found = sorted(self.endpoints.values(), key=lambda e: e.created_at, reverse=True)
        return found[offset : offset + limit], len(found)

    async def subscribed_to(self, event_type: str) -> list[WebhookEndpoint]:
        return [e for e in self.endpoints.values() if e.subscribes_to(event_type)]

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        self.endpoints.pop(endpoint.id, None)
        for delivery in [d for d in self.rows.values() if d.endpoint_id == endpoint.id]:
            del self.rows[delivery.id]

    async def add_deliveries(self, rows: list[dict[str, Any]]) -> int:
        taken = {(d.event_id, d.endpoint_id) for d in self.rows.values()}
        created = 0
        for row in rows:
            if (row["event_id"], row["endpoint_id"]) not in taken:
                self.rows[row["id"]] = WebhookDelivery(**row)
                created += 1
        return created

    async def get_delivery(
        self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookDelivery | None:
        delivery = self.rows.get(delivery_id)
        return delivery if delivery is not None and delivery.endpoint_id == endpoint_id else None

    async def deliveries(
        self, endpoint_id: uuid.UUID, *, status: DeliveryStatus | None, limit: int, offset: int
    ) -> tuple[list[WebhookDelivery], int]:
        found = [
            d
            for d in self.rows.values()
            if d.endpoint_id == endpoint_id and (status is None or d.status is status)
        ]
        found.sort(key=lambda d: d.created_at, reverse=True)
        return found[offset : offset + limit], len(found)

    async def attempts(self, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
        return sorted(
            (a for a in self.attempt_log if a.delivery_id == delivery_id), key=lambda a: a.number
        )

    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        due = sorted(
            (
                d
                for d in self.rows.values()
                if d.status is DeliveryStatus.PENDING
                and d.next_attempt_at <= now
                and self.endpoints[d.endpoint_id].enabled
            ),
            key=lambda d: d.next_attempt_at,
        )[:limit]
        for delivery in due:
            delivery.next_attempt_at = now + lease
        return [(d, self.endpoints[d.endpoint_id]) for d in due]

    def add_attempt(self, attempt: WebhookAttempt) -> None:
        self.attempt_log.append(attempt)

    async def fail_pending(self, endpoint_id: uuid.UUID) -> None:
        for delivery in self.rows.values():
            if delivery.endpoint_id == endpoint_id and delivery.status is DeliveryStatus.PENDING:
                delivery.status = DeliveryStatus.FAILED

    async def replay_failed_since(
        self, endpoint_id: uuid.UUID, *, since: datetime, now: datetime
    ) -> int:
        replayed = [
            d
            for d in self.rows.values()
            if d.endpoint_id == endpoint_id
            and d.status is DeliveryStatus.FAILED
            and d.created_at >= since
        ]
        for delivery in replayed:
            delivery.replay(now=now)
        return len(replayed)
