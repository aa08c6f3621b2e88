"""Celery tasks: thin shims that run a service use case in the worker's event loop.

Each worker process builds its own event loop and container lazily, after the fork, so no
connection pool is shared between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import structlog
from aiosmtplib import SMTPException
from celery import Celery, Task, chain, current_task
from celery.signals import task_postrun, task_prerun, worker_process_shutdown
from opentelemetry.trace import SpanKind
from sqlalchemy.exc import DBAPIError

from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.errors import Unavailable
from orderly.core.observability import instrument_clients, tracer_provider, uninstrument_clients
from orderly.core.tracing import TRACEPARENT, child_span, current_traceparent, event_attributes
from orderly.events.relay import Deliver, OutboxRelay
from orderly.events.types import EVENT_TYPES, event_from_payload
from orderly.models import OutboxMessage

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = structlog.get_logger(__name__)
T = TypeVar("T")
# Worth another try later: a peer or the database was unreachable, or the mail server.
TRANSIENT = (Unavailable, OSError, SMTPException, DBAPIError)


def celery_deliver(celery: Celery, tracing: TracerProvider | None = None) -> Deliver:
    """The relay's hand-over in production: one ``orderly.handle_event`` task per event,
    carrying the event's trace context (through the relay's own span when it traces)."""

    async def deliver(message: OutboxMessage) -> None:
        kind = EVENT_TYPES.get(message.event_type)
        about = event_attributes(message.id, message.event_type)
        name = f"publish {message.event_type}"
        with child_span(
            tracing, name, message.traceparent, kind=SpanKind.PRODUCER, attributes=about
        ):
            trace = current_traceparent() or message.traceparent
            send = partial(
                celery.send_task,
                "orderly.handle_event",
                args=[message.event_type, message.payload],
                queue=kind.queue if kind else "default",
                task_id=str(message.id),
                headers={TRACEPARENT: trace} if trace else None,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
            )
            await anyio.to_thread.run_sync(send)

    return deliver


class WorkerRuntime:
    """One loop, one container and one tracer provider per worker process (built after the
    fork: the provider's export thread does not survive one)."""

    def __init__(
        self, settings: Settings, celery: Celery, *, span_exporter: SpanExporter | None = None
    ) -> None:
        self.settings = settings
        self.celery = celery
        self._span_exporter = span_exporter
        self._loop: asyncio.AbstractEventLoop | None = None
        self._container: Container | None = None
        self.tracing: TracerProvider | None = None
        worker_process_shutdown.connect(self.close)

    def run(
        self,
        work: Callable[[Container], Awaitable[T]],
        *,
        span: str | None = None,
        traceparent: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> T:
        """Run ``work`` in a span (named ``span``, else after the running task) that
        continues the trace ``traceparent`` names."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._container = Container.build(
                self.settings, start_report=self.start_report, wake_webhooks=self.wake_webhooks
            )
            self.tracing = tracer_provider(self.settings, self._span_exporter, role="worker")
            if self.tracing is not None:
                instrument_clients(self.tracing, self._container.engine)
        assert self._container is not None  # noqa: S101 - built with the loop
        name = span or getattr(current_task, "name", None) or "orderly.task"
        with child_span(self.tracing, name, traceparent, attributes=attributes):
            return self._loop.run_until_complete(work(self._container))

    def close(self, **_: Any) -> None:
        """At the pool process's end: the spans out, the connections closed (bounded)."""
        loop, container, self._loop, self._container = self._loop, self._container, None, None
        if loop is not None and container is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(container.close(), timeout=5))
            loop.close()
        if self.tracing is not None:
            uninstrument_clients()
            self.tracing.shutdown()
            self.tracing = None

    async def wake_webhooks(self) -> None:
        """Deliveries are due now: a sending pass on the webhooks queue (beat also runs one
        every ORDERLY_WEBHOOK_POLL_INTERVAL, so a lost wake-up only delays them)."""
        send = partial(self.celery.send_task, "orderly.webhooks.send_due", queue="webhooks")
        await anyio.to_thread.run_sync(send)

    async def start_report(self, report_id: uuid.UUID) -> None:
        """collect -> render CSV -> notify, as a Celery chain on the reports queue."""
        steps = chain(
            self.celery.signature("orderly.report.collect", args=[str(report_id)]),
            self.celery.signature("orderly.report.render", args=[str(report_id)]),
            self.celery.signature("orderly.report.notify", args=[str(report_id)]),
        )
        await anyio.to_thread.run_sync(partial(steps.apply_async, task_id=str(report_id)))


def register_tasks(celery: Celery, runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    # shared=False: these tasks belong to this app only (a second app in one process, as in
    # the tests, would otherwise be handed the first one's tasks, bound to its runtime).
    retrying: dict[str, Any] = {
        "shared": False,
        "autoretry_for": TRANSIENT,
        "retry_backoff": 2,
        "retry_backoff_max": settings.task_retry_backoff_max,
        "retry_jitter": True,
        "max_retries": settings.task_max_retries,
    }

    @celery.task(name="orderly.handle_event", bind=True, **retrying)
    def handle_event(task: Task[Any, Any], event_type: str, payload: dict[str, Any]) -> None:
        event = event_from_payload(event_type, payload)
        structlog.contextvars.bind_contextvars(event_id=str(event.event_id), event=event_type)
        runtime.run(
            lambda c: c.dispatcher.dispatch(event, acknowledge=True),
            span=f"handle {event_type}",
            traceparent=(task.request.headers or {}).get(TRACEPARENT),
            attributes=event_attributes(event.event_id, event_type),
        )

    @celery.task(name="orderly.expire_orders", **retrying)
    def expire_orders() -> int:
        timeout = timedelta(seconds=settings.order_payment_timeout)
        return runtime.run(lambda c: c.orders.expire_unpaid(older_than=timeout))

    @celery.task(name="orderly.sweep_outbox", **retrying)
    def sweep_outbox() -> int:
        """A safety net under the relay process: one relay pass from a worker."""

        def sweep(c: Container) -> Awaitable[int]:
            return OutboxRelay.to_broker(
                c.session_factory, celery_deliver(celery), settings
            ).relay_once()

        return runtime.run(sweep)

    @celery.task(name="orderly.webhooks.send_due", shared=False)
    def send_due_webhooks() -> int:
        """Send the due webhook deliveries. Not retried: the schedule lives in the database,
        and the next pass (beat) takes whatever this one left."""
        return runtime.run(lambda c: c.webhook_deliveries.send_all_due())

    @celery.task(name="orderly.daily_sales_report", **retrying)
    def daily_sales_report() -> str:
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        report = runtime.run(
            lambda c: c.reports.request(requested_by=None, date_from=yesterday, date_to=yesterday)
        )
        return str(report.id)

    @celery.task(name="orderly.report.collect", **retrying)
    def collect(report_id: str) -> list[dict[str, Any]]:
        rid = uuid.UUID(report_id)
        return runtime.run(lambda c: _or_fail(c, rid, c.reports.collect(report_id=rid)))

    @celery.task(name="orderly.report.render", **retrying)
    def render(rows: list[dict[str, Any]], report_id: str) -> int:
        rid = uuid.UUID(report_id)
        runtime.run(lambda c: _or_fail(c, rid, c.reports.render(report_id=rid, rows=rows)))
        return sum(int(row["orders"]) for row in rows)

    @celery.task(name="orderly.report.notify", **retrying)
    def notify(orders: int, report_id: str) -> int:
        return runtime.run(
            lambda c: c.reports.notify(report_id=uuid.UUID(report_id), orders=orders)
        )


async def _or_fail(container: Container, report_id: uuid.UUID, step: Awaitable[T]) -> T:
    try:
        return await step
    except TRANSIENT:
        raise  # retried; the report stays started
    except Exception as exc:
        await container.reports.fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")
        raise


@task_prerun.connect
def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))


@task_postrun.connect
def _unbind_task(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
