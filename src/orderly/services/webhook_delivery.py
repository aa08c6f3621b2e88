"""Delivering webhooks: events become deliveries, due deliveries are sent and settled.

- ``fan_out`` runs as an event handler, after the business commit (the event came from the
  outbox): one delivery per enabled endpoint subscribed to the event, idempotently (unique
  (event, endpoint)), then the sender is woken.
- ``send_due`` claims due deliveries for a lease in one short transaction, sends them with no
  transaction open, and settles each attempt in another short transaction: the attempt is
  logged, the delivery is done, due again later (the schedule lives in the database: a retry
  a day away never waits in the broker) or given up. A sender that dies mid-attempt leaves
  its deliveries to be claimed again when the lease ends: same webhook-id, sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from orderly.core import metrics
from orderly.events.types import Event
from orderly.events.webhooks import webhook_body, webhook_type
from orderly.integrations.webhooks import AttemptResult, WebhookSender, sign
from orderly.models import WebhookAttempt
from orderly.models.webhook import DeliveryStatus, DisabledReason
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)
Wake = Callable[[], Awaitable[None]]
GONE = 410


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff with jitter: ``initial * factor ** (n - 1)`` seconds after the n-th
    failure in a row, at most ``max_delay``, each ±``jitter``; ``max_attempts`` in all."""

    initial: float
    factor: float
    max_delay: float
    max_attempts: int
    jitter: float = 0.2

    def delay_after(
        self, failures: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds until the next attempt after ``failures`` failed attempts in a row, or None
        to give up. A receiver's ``Retry-After`` is honoured (up to ``max_delay``)."""
        if failures >= self.max_attempts:
            return None
        nominal = min(self.max_delay, self.initial * self.factor ** (failures - 1))
        delay = nominal * (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay

    def reach(self) -> float:
        """Seconds from the first attempt to the last, without jitter."""
        return sum(
            min(self.max_delay, self.initial * self.factor ** (n - 1))
            for n in range(1, self.max_attempts)
        )


@dataclass(frozen=True)
class _Claimed:
    """What one attempt needs, read in the claiming transaction."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    webhook_id: str
    url: str
    secrets: list[str]
    body: str


async def _nothing() -> None:
    return None


class WebhookDeliveries:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        sender: WebhookSender,
        schedule: RetrySchedule,
        lease: timedelta,
        disable_after: timedelta,
        batch_size: int,
        wake: Wake = _nothing,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``wake``: tells the sender that deliveries are due (a Celery task, or the
        in-process runner's doorbell); without it they go at the next poll."""
        self._uow = uow
        self._sender = sender
        self._schedule = schedule
        self._lease = lease
        self._disable_after = disable_after
        self._batch_size = batch_size
        self._clock = clock
        self.wake = wake

    async def fan_out(self, event: Event) -> int:
        """One delivery per enabled endpoint subscribed to ``event``; returns how many are new."""
        name = webhook_type(event)
        if name is None:
            return 0
        now = self._clock()
        async with self._uow() as uow:
            endpoints = await uow.webhooks.subscribed_to(name)
            if not endpoints:
                return 0
            body = webhook_body(event)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "endpoint_id": endpoint.id,
                    "event_id": event.event_id,
                    "event_type": name,
                    "body": body,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "failures": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for endpoint in endpoints
            ]
            created = await uow.webhooks.add_deliveries(rows)
            await uow.commit()
        if created:
            await self.wake()
        return created

    async def send_due(self) -> int:
        """Send one batch of due deliveries (concurrently); returns how many were tried."""
        now = self._clock()
        async with self._uow() as uow:
            claimed = [
                _Claimed(
                    delivery.id,
                    endpoint.id,
                    delivery.webhook_id,
                    endpoint.url,
                    endpoint.signing_secrets(now),
                    delivery.body,
                )
                for delivery, endpoint in await uow.webhooks.claim_due(
                    now=now, lease=self._lease, limit=self._batch_size
                )
            ]
            await uow.commit()
        await asyncio.gather(*(self._attempt(job) for job in claimed))
        return len(claimed)

    async def send_all_due(self) -> int:
        """Batches until fewer than a full one are due; returns how many were tried."""
        total = 0
        while (sent := await self.send_due()) > 0:
            total += sent
            if sent < self._batch_size:
                break
        return total

    async def _attempt(self, job: _Claimed) -> None:
        at = self._clock()
        headers = {
            "webhook-id": job.webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": sign(
                job.secrets, webhook_id=job.webhook_id, timestamp=at, body=job.body
            ),
        }
        result = await self._sender.send(job.url, headers=headers, body=job.body.encode())
        try:
            outcome, disabled = await self._settle(job, result, at=at)
        except Exception:  # the lease brings it back: sent again, same webhook-id
            log.exception("webhook_settle_failed", delivery_id=str(job.delivery_id))
            return
        if disabled is not None:
            metrics.WEBHOOK_ENDPOINTS_DISABLED.labels(disabled.value).inc()
            log.warning(
                "webhook_endpoint_disabled", endpoint_id=str(job.endpoint_id), reason=disabled.value
            )
        metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
        metrics.WEBHOOK_LATENCY.labels(outcome).observe(result.duration)
        log.info(
            "webhook_attempt",
            delivery_id=str(job.delivery_id),
            endpoint_id=str(job.endpoint_id),
            webhook_id=job.webhook_id,
            status_code=result.status_code,
            error=result.error,
            outcome=outcome,
            duration_ms=round(result.duration * 1000),
        )

    async def _settle(
        self, job: _Claimed, result: AttemptResult, *, at: datetime
    ) -> tuple[str, DisabledReason | None]:
        """Log the attempt and decide what follows: the outcome for the metrics, and why the
        endpoint was disabled if it was."""
        now = self._clock()
        disabled: DisabledReason | None = None
        async with self._uow() as uow:
            delivery = await uow.webhooks.get_delivery(
                job.endpoint_id, job.delivery_id, for_update=True
            )
            endpoint = await uow.webhooks.get_for_update(job.endpoint_id)
            if delivery is None or endpoint is None:
                return "dropped", None  # the endpoint was deleted meanwhile
            delivery.attempts += 1
            delivery.last_attempt_at = at
            delivery.last_status_code = result.status_code
            uow.webhooks.add_attempt(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    number=delivery.attempts,
                    attempted_at=at,
                    status_code=result.status_code,
                    duration_ms=round(result.duration * 1000),
                    response=result.response,
                    error=result.error,
                )
            )
            if delivery.status is not DeliveryStatus.PENDING:
                outcome = "late"  # settled by another sender after this one's lease ran out
            elif result.delivered:
                delivery.succeeded(now=now)
                endpoint.attempt_succeeded()
                outcome = "delivered"
            else:
                if result.status_code == GONE:
                    disabled = DisabledReason.GONE
                    endpoint.disable(disabled)
                elif endpoint.attempt_failed(now=now, disable_after=self._disable_after):
                    disabled = DisabledReason.FAILING
                delay = (
                    None
                    if disabled
                    else self._schedule.delay_after(
                        delivery.failures + 1, retry_after=result.retry_after
                    )
                )
                if delay is None:
                    delivery.give_up()
                    outcome = "failed"
                else:
                    delivery.retry_at(now + timedelta(seconds=delay))
                    outcome = "retrying"
                if disabled:
                    await uow.webhooks.fail_pending(endpoint.id)
            await uow.commit()
        return outcome, disabled


class Doorbell:
    """Wakes the in-process sender when deliveries become due (no broker to send a task)."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    async def ring(self) -> None:
        self._rung.set()

    async def wait(self, seconds: float) -> None:
        """Until rung or ``seconds`` have passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rung.wait(), timeout=seconds)
        self._rung.clear()
