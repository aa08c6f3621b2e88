"""One trace from the API request through the outbox row into the handling of the event:
place -> pay -> mail, with the in-process runner (in-memory span exporter, no network) and
with a Celery task carrying the trace context in its headers."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from celery import Celery
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from orderly.core.config import Settings
from orderly.core.observability import tracer_provider
from orderly.core.tracing import TRACEPARENT
from orderly.events.types import UserRegistered
from orderly.jobs.celery_app import create_celery
from orderly.jobs.tasks import WorkerRuntime, celery_deliver, register_tasks
from orderly.main import create_app
from orderly.models import OutboxMessage
from tests.conftest import make_account
from tests.databases import empty_all_tables
from tests.integration.test_items import add_item
from tests.integration.test_jobs_embedded import eventually, mails


def named(spans: InMemorySpanExporter, name: str) -> tuple[int, int, int | None]:
    """The one span of that name: (trace id, span id, its parent's span id or None)."""
    found = [span for span in spans.get_finished_spans() if span.name == name]
    assert len(found) == 1, [span.name for span in spans.get_finished_spans()]
    context = found[0].get_span_context()
    assert context is not None
    parent = found[0].parent
    return context.trace_id, context.span_id, parent.span_id if parent else None


def resource(spans: InMemorySpanExporter) -> str:
    return str(spans.get_finished_spans()[0].resource.attributes["service.name"])


async def test_the_request_and_the_handling_of_its_events_are_one_trace(
    settings: Settings, tmp_path: Path
) -> None:
    spans = InMemorySpanExporter()
    mail_dir = tmp_path / "mail"
    app = create_app(
        settings.model_copy(
            update={"embedded_jobs": True, "relay_interval": 0.05, "mail_dir": str(mail_dir)}
        ),
        span_exporter=spans,
    )
    async with app.router.lifespan_context(app):
        container = app.state.container
        buyer = await make_account(container, "tess@example.com")
        item = await add_item(container, "TRACE-1", stock=3)
        body = {
            "lines": [{"item_id": str(item.id), "quantity": 1}],
            "payment_method": "pm_card_visa",
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            placed = await http.post("/api/v1/orders", json=body, headers=buyer.headers)
        assert placed.status_code == 201, placed.text
        await eventually(
            lambda: [m for m in mails(mail_dir) if "is paid" in m["Subject"]], "the receipt"
        )
        app.state.tracer_provider.force_flush()
        async with container.session_factory() as session:
            rows = {m.event_type: m for m in await session.scalars(select(OutboxMessage))}
        await empty_all_tables(container.engine)

    trace_id, _, _ = named(spans, "POST /api/v1/orders")
    place_trace, place_span, _ = named(spans, "handle OrderPlaced")
    paid_trace, _, paid_parent_span = named(spans, "handle OrderPaid")  # the receipt's mail
    assert place_trace == trace_id
    assert (paid_trace, paid_parent_span) == (trace_id, place_span)
    # the rows say so: the placed event written in the request, the paid one in its handler
    assert rows["OrderPlaced"].traceparent is not None
    assert rows["OrderPlaced"].traceparent.split("-")[1] == f"{trace_id:032x}"
    paid_parent = rows["OrderPaid"].traceparent
    assert paid_parent is not None  # version-trace-span-flags; the flags say "sampled"
    assert paid_parent.rsplit("-", 1)[0] == f"00-{trace_id:032x}-{place_span:016x}"
    assert rows["UserRegistered"].traceparent is None  # registered outside any request span


def a_traceparent() -> tuple[int, int, str]:
    trace_id, span_id = uuid.uuid4().int, uuid.uuid4().int >> 64
    return trace_id, span_id, f"00-{trace_id:032x}-{span_id:016x}-01"


async def test_the_relay_passes_the_trace_on_in_the_task_headers(settings: Settings) -> None:
    spans = InMemorySpanExporter()
    celery = create_celery(settings.model_copy(update={"broker_url": "memory://"}))
    relaying = tracer_provider(settings, spans, role="relay")
    assert relaying is not None
    trace_id, parent_id, parent = a_traceparent()
    event = UserRegistered(user_id=uuid.uuid4(), email="ivy@example.com", full_name="Ivy")
    row = OutboxMessage(
        id=event.event_id, event_type=event.name, payload=event.to_payload(), traceparent=parent
    )
    await celery_deliver(celery, relaying)(row)
    relaying.shutdown()
    publish_trace, publish_span, publish_parent = named(spans, "publish UserRegistered")
    assert (publish_trace, publish_parent) == (trace_id, parent_id)
    assert resource(spans) == "orderly-relay"
    with celery.connection_for_read() as connection:
        sent = connection.SimpleQueue("emails").get(timeout=5)
        sent.ack()
    assert sent.headers["id"] == str(event.event_id)
    assert sent.headers[TRACEPARENT].startswith(f"00-{trace_id:032x}-{publish_span:016x}")


def test_a_celery_task_continues_the_trace_in_its_headers(settings: Settings) -> None:
    spans = InMemorySpanExporter()
    celery: Celery = create_celery(settings.model_copy(update={"broker_url": "memory://"}))
    runtime = WorkerRuntime(settings, celery, span_exporter=spans)
    register_tasks(celery, runtime)
    trace_id, parent_id, parent = a_traceparent()
    event = UserRegistered(user_id=uuid.uuid4(), email="ivy@example.com", full_name="Ivy")
    try:
        task = celery.tasks["orderly.handle_event"]
        result = task.apply(args=(event.name, event.to_payload()), headers={TRACEPARENT: parent})
        assert result.successful(), result.traceback
    finally:
        runtime.run(lambda c: empty_all_tables(c.engine))
        runtime.close()  # flushes the spans
    handled_trace, _, handled_parent = named(spans, "handle UserRegistered")
    assert (handled_trace, handled_parent) == (trace_id, parent_id)
    assert resource(spans) == "orderly-worker"
