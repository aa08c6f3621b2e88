"""The zero-server default: with no broker configured, the API process runs the event handlers
itself, fed from the same outbox table (so nothing is lost on a restart), sends the webhook
deliveries that are due (at once when rung, else every poll interval), and expires unpaid
orders once a minute."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.core.tracing import child_span, event_attributes
from orderly.events.handlers import EventDispatcher
from orderly.events.relay import OutboxRelay
from orderly.events.types import event_from_payload
from orderly.models import OutboxMessage
from orderly.services.orders import OrderService
from orderly.services.webhook_delivery import Doorbell, WebhookDeliveries

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = structlog.get_logger(__name__)


class EmbeddedRunner:
    def __init__(
        self,
        *,
        dispatcher: EventDispatcher,
        orders: OrderService,
        sessions: async_sessionmaker[AsyncSession],
        interval: float,
        batch_size: int,
        payment_timeout: timedelta,
        expiry_interval: float,
        webhooks: WebhookDeliveries,
        doorbell: Doorbell,
        webhook_interval: float,
        tracing: TracerProvider | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._orders = orders
        self._interval = interval
        self._payment_timeout = payment_timeout
        self._expiry_interval = expiry_interval
        self._webhooks = webhooks
        self._doorbell = doorbell
        self._webhook_interval = webhook_interval
        self._tracing = tracing
        self._relay = OutboxRelay(
            sessions,
            self._handle,
            batch_size=batch_size,
            in_process=True,
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: asyncio.Task[None] | None = None

    async def _handle(self, message: OutboxMessage) -> None:
        """Handled in a span continuing the trace of whoever wrote the event."""
        event = event_from_payload(message.event_type, message.payload)
        name, about = (
            f"handle {message.event_type}",
            event_attributes(message.id, message.event_type),
        )
        with child_span(self._tracing, name, message.traceparent, attributes=about):
            await self._dispatcher.dispatch(event)

    async def _expire_periodically(self) -> None:
        while not self._stop.is_set():
            try:
                await self._orders.expire_unpaid(older_than=self._payment_timeout)
            except Exception:  # a bad pass is logged; the next one may succeed
                log.exception("order_expiry_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._expiry_interval)

    async def _send_webhooks(self) -> None:
        """Until cancelled: due deliveries out, then wait for the doorbell or the interval.
        Cancelled mid-attempt, a delivery stays claimed and is sent again after its lease."""
        while True:
            try:
                await self._webhooks.send_all_due()
            except Exception:  # e.g. the database restarting: the next pass may succeed
                log.exception("webhook_sending_failed")
            await self._doorbell.wait(self._webhook_interval)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._relay.run(self._stop, interval=self._interval)),
            asyncio.create_task(self._expire_periodically()),
        ]
        self._sender = asyncio.create_task(self._send_webhooks())
        log.info("embedded_job_runner_started")

    async def stop(self) -> None:
        self._stop.set()
        tasks = list(self._tasks)
        if self._sender is not None:
            self._sender.cancel()
            tasks.append(self._sender)
        await asyncio.gather(*tasks, return_exceptions=True)
