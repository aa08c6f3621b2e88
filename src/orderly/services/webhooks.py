"""Webhook endpoints as administrators manage them: register (the signing secret is shown
once), change, rotate the secret, delete; read the delivery log; replay deliveries.

URLs are checked before any transaction opens (the check resolves the host name)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orderly.core.errors import Conflict, NotFound, Unprocessable
from orderly.events.types import Event, WebhookEndpointDisabled
from orderly.events.webhooks import WEBHOOK_EVENTS
from orderly.integrations.email import Mailer
from orderly.integrations.webhooks import AddressPolicy, AddressRefused, new_secret
from orderly.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from orderly.models.webhook import DeliveryStatus
from orderly.services.webhook_delivery import WebhookDeliveries
from orderly.unit_of_work import UnitOfWork, UnitOfWorkFactory


class WebhookEndpointNotFound(NotFound):
    code = "webhook-endpoint-not-found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook-delivery-not-found"


class WebhookUrlRefused(Unprocessable):
    """The URL is malformed, not https (in production), or reaches an address webhooks may
    not call (loopback, private, link-local, multicast, reserved, cloud metadata)."""

    code = "webhook-url-refused"


class UnknownEventType(Unprocessable):
    code = "unknown-event-type"


class WebhookEndpointDisabledError(Conflict):
    """The endpoint is disabled: enable it before replaying its deliveries."""

    code = "webhook-endpoint-disabled"


@dataclass(frozen=True)
class WithSecret:
    """An endpoint with its signing secret, the one time it is shown."""

    endpoint: WebhookEndpoint
    secret: str


class WebhookService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: AddressPolicy,
        deliveries: WebhookDeliveries,
        mailer: Mailer,
        secret_overlap: timedelta,
        endpoint_url: Callable[[uuid.UUID], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``endpoint_url``: the address of an endpoint's page, for the mail to the admins."""
        self._uow = uow
        self._policy = policy
        self._deliveries = deliveries
        self._mailer = mailer
        self._overlap = secret_overlap
        self._endpoint_url = endpoint_url
        self._clock = clock

    async def register(
        self, *, url: str, description: str, event_types: list[str], enabled: bool = True
    ) -> WithSecret:
        await self._check_url(url)
        _check_event_types(event_types)
        secret = new_secret()
        endpoint = WebhookEndpoint.register(
            url=url,
            description=description,
            event_types=event_types,
            secret=secret,
            enabled=enabled,
        )
        async with self._uow() as uow:
            uow.webhooks.add(endpoint)
            await uow.commit()
        return WithSecret(endpoint, secret)

    async def list_endpoints(self, *, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]:
        async with self._uow(read_only=True) as uow:
            return await uow.webhooks.page(limit=limit, offset=offset)

    async def get_endpoint(self, *, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        async with self._uow(read_only=True) as uow:
            endpoint = await uow.webhooks.get(endpoint_id)
        if endpoint is None:
            raise WebhookEndpointNotFound(f"No webhook endpoint with id {endpoint_id}")
        return endpoint

    async def change(
        self,
        *,
        endpoint_id: uuid.UUID,
        url: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        event_types: list[str] | None = None,
    ) -> WebhookEndpoint:
        """Change what is given. Disabling fails what was waiting (replay it later)."""
        if url is not None:
            await self._check_url(url)
        if event_types is not None:
            _check_event_types(event_types)
        async with self._uow() as uow:
            endpoint = await uow.webhooks.get_for_update(endpoint_id)
            if endpoint is None:
                raise WebhookEndpointNotFound(f"No webhook endpoint with id {endpoint_id}")
            if url is not None:
                endpoint.url = url
            if description is not None:
                endpoint.description = description
            if event_types is not None:
                endpoint.event_types = sorted(set(event_types))
            if enabled is True:
                endpoint.enable()
            elif enabled is False and endpoint.enabled:
                endpoint.disable()
                await uow.webhooks.fail_pending(endpoint.id)
            await uow.commit()
        return endpoint

    async def rotate_secret(self, *, endpoint_id: uuid.UUID) -> WithSecret:
        """A new secret; the old one keeps signing too until the overlap ends."""
        secret = new_secret()
        async with self._uow() as uow:
            endpoint = await uow.webhooks.get_for_update(endpoint_id)
            if endpoint is None:
                raise WebhookEndpointNotFound(f"No webhook endpoint with id {endpoint_id}")
            endpoint.rotate_secret(secret, now=self._clock(), overlap=self._overlap)
            await uow.commit()
        return WithSecret(endpoint, secret)

    async def delete(self, *, endpoint_id: uuid.UUID) -> None:
        async with self._uow() as uow:
            endpoint = await uow.webhooks.get_for_update(endpoint_id)
            if endpoint is None:
                raise WebhookEndpointNotFound(f"No webhook endpoint with id {endpoint_id}")
            await uow.webhooks.delete(endpoint)
            await uow.commit()

    async def deliveries(
        self, *, endpoint_id: uuid.UUID, status: DeliveryStatus | None, limit: int, offset: int
    ) -> tuple[list[WebhookDelivery], int]:
        async with self._uow(read_only=True) as uow:
            if await uow.webhooks.get(endpoint_id) is None:
                raise WebhookEndpointNotFound(f"No webhook endpoint with id {endpoint_id}")
            return await uow.webhooks.deliveries(
                endpoint_id, status=status, limit=limit, offset=offset
            )

    async def delivery(
        self, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
        """A delivery and every attempt at it, oldest first."""
        async with self._uow(read_only=True) as uow:
            delivery = await uow.webhooks.get_delivery(endpoint_id, delivery_id)
            if delivery is None:
                raise WebhookDeliveryNotFound(f"No delivery {delivery_id} for this endpoint")
            return delivery, await uow.webhooks.attempts(delivery_id)

    async def replay(self, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        """Send a delivery again now: same webhook-id, a fresh timestamp and signature."""
        async with self._uow() as uow:
            await self._enabled_endpoint(uow, endpoint_id)
            delivery = await uow.webhooks.get_delivery(endpoint_id, delivery_id, for_update=True)
            if delivery is None:
                raise WebhookDeliveryNotFound(f"No delivery {delivery_id} for this endpoint")
            delivery.replay(now=self._clock())
            await uow.commit()
        await self._deliveries.wake()
        return delivery

    async def replay_failed(self, *, endpoint_id: uuid.UUID, since: datetime) -> int:
        """Send again every failed delivery of the endpoint created since ``since``."""
        async with self._uow() as uow:
            await self._enabled_endpoint(uow, endpoint_id)
            count = await uow.webhooks.replay_failed_since(
                endpoint_id, since=since, now=self._clock()
            )
            await uow.commit()
        if count:
            await self._deliveries.wake()
        return count

    async def fan_out(self, event: Event) -> int:
        """The deliveries of an event, one per subscribed endpoint (an event handler)."""
        return await self._deliveries.fan_out(event)

    async def notify_disabled(self, event: WebhookEndpointDisabled) -> int:
        """Mail the administrators that an endpoint was disabled; returns how many."""
        async with self._uow(read_only=True) as uow:
            admins = await uow.users.active_admins()
        why = {
            "gone": "it answered 410 Gone",
            "failing": "every delivery to it failed for too long",
        }.get(event.reason, event.reason)
        for admin in admins:
            message = self._mailer.compose(
                to=admin.email,
                template="webhook_disabled",
                message_id=uuid.uuid5(event.event_id, admin.email),
                url=event.url,
                why=why,
                endpoint_url=self._endpoint_url(event.endpoint_id),
            )
            await self._mailer.send(message)
        return len(admins)

    async def _check_url(self, url: str) -> None:
        try:
            await self._policy.resolve(url)
        except AddressRefused as exc:
            raise WebhookUrlRefused(f"The URL is refused: {exc}", field="url") from exc

    @staticmethod
    async def _enabled_endpoint(uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = await uow.webhooks.get_for_update(endpoint_id)
        if endpoint is None:
            raise WebhookEndpointNotFound(f"No webhook endpoint with id {endpoint_id}")
        if not endpoint.enabled:
            raise WebhookEndpointDisabledError("The endpoint is disabled; enable it first")
        return endpoint


def _check_event_types(event_types: list[str]) -> None:
    unknown = sorted(set(event_types) - WEBHOOK_EVENTS.keys())
    if unknown:
        known = ", ".join(WEBHOOK_EVENTS)
        raise UnknownEventType(
            f"Unknown event type {', '.join(unknown)}; known: {known}", field="event_types"
        )
