"""Queries on webhook endpoints, their deliveries and the attempts log. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from orderly.models.webhook import DeliveryStatus
from orderly.repositories.paging import page_with_total

_ENDPOINTS = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id)
_ENABLED = select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
_ATTEMPTS = (
    select(WebhookAttempt)
    .where(WebhookAttempt.delivery_id == bindparam("delivery_id"))
    .order_by(WebhookAttempt.number)
)


@lru_cache(maxsize=4)
def _deliveries(*, by_status: bool) -> Select[WebhookDelivery]:
    """One endpoint's deliveries, newest first, optionally in one status."""
    statement = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == bindparam("endpoint_id")
    )
    if by_status:
        statement = statement.where(
            WebhookDelivery.status == bindparam("status", type_=WebhookDelivery.status.type)
        )
    return statement.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- endpoints --------------------------------------------------------------------------

    def add(self, endpoint: WebhookEndpoint) -> None:
        self._session.add(endpoint)

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        return await self._session.get(WebhookEndpoint, endpoint_id)

    async def get_for_update(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        return await self._session.get(WebhookEndpoint, endpoint_id, with_for_update=True)

    async def page(self, *, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]:
        return await page_with_total(self._session, _ENDPOINTS, limit=limit, offset=offset)

    async def subscribed_to(self, event_type: str) -> list[WebhookEndpoint]:
        """Enabled endpoints that want ``event_type`` (a shop has few endpoints: the JSON
        list is read here rather than queried in two SQL dialects)."""
        endpoints = await self._session.scalars(_ENABLED)
        return [endpoint for endpoint in endpoints if endpoint.subscribes_to(event_type)]

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self._session.delete(endpoint)

    # -- deliveries -------------------------------------------------------------------------

    async def add_deliveries(self, rows: list[dict[str, Any]]) -> int:
        """Insert deliveries, skipping any (event, endpoint) pair already there; returns how
        many are new. A redelivered event therefore creates nothing the second time."""
        if not rows:
            return 0
        dialect = self._session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(WebhookDelivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"])
            .returning(WebhookDelivery.id)
        )
        return len((await self._session.execute(statement)).all())

    async def get_delivery(
        self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookDelivery | None:
        delivery = await self._session.get(
            WebhookDelivery, delivery_id, with_for_update=for_update or None
        )
        return delivery if delivery is not None and delivery.endpoint_id == endpoint_id else None

    async def deliveries(
        self,
        endpoint_id: uuid.UUID,
        *,
        status: DeliveryStatus | None,
        limit: int,
        offset: int,
    ) -> tuple[list[WebhookDelivery], int]:
        params: dict[str, Any] = {"endpoint_id": endpoint_id}
        if status is not None:
            params["status"] = status
        statement = _deliveries(by_status=status is not None)
        return await page_with_total(
            self._session, statement, limit=limit, offset=offset, params=params
        )

    async def attempts(self, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
        return list(await self._session.scalars(_ATTEMPTS, {"delivery_id": delivery_id}))

    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        """Due deliveries of enabled endpoints, oldest due first, taken for ``lease``: other
        senders skip them while this transaction runs (PostgreSQL SKIP LOCKED) and after it
        until the lease ends, when an unsettled one (its sender died) is due again."""
        statement = (
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
        claimed = [(row[0], row[1]) for row in await self._session.execute(statement)]
        for delivery, _ in claimed:
            delivery.next_attempt_at = now + lease
        return claimed

    def add_attempt(self, attempt: WebhookAttempt) -> None:
        self._session.add(attempt)

    async def fail_pending(self, endpoint_id: uuid.UUID) -> None:
        """An endpoint was disabled: what waited for it fails (and can be replayed later)."""
        await self._session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.FAILED)
        )

    async def replay_failed_since(
        self, endpoint_id: uuid.UUID, *, since: datetime, now: datetime
    ) -> int:
        """Every failed delivery of the endpoint created since ``since`` is due again now, on
        a fresh schedule (same webhook-id); returns how many."""
        result = await self._session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.FAILED,
                WebhookDelivery.created_at >= since,
            )
            .values(status=DeliveryStatus.PENDING, failures=0, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))
