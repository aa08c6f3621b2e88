"""worker, beat and relay set up Sentry (and the relay tracing) as the API does: checked with
the Celery entry points and the relay's loop replaced, on the in-memory broker; no network."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from celery import Celery
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orderly.cli import processes
from orderly.core import observability
from orderly.core.config import Settings
from orderly.events.relay import OutboxRelay
from orderly.events.types import UserRegistered
from orderly.models import OutboxMessage
from tests.integration.cli.conftest import Cli

PARENT_TRACE, PARENT_SPAN = uuid.uuid4().int, uuid.uuid4().int >> 64


class Observed:
    """What the commands set up: Sentry for which DSN, tracing for which role."""

    def __init__(self) -> None:
        self.sentry: list[str | None] = []
        self.roles: list[str | None] = []
        self.spans = InMemorySpanExporter()
        self.started: list[list[str]] = []

    def configure_sentry(self, settings: Settings, **_: Any) -> bool:
        dsn = settings.sentry_dsn
        self.sentry.append(dsn.get_secret_value() if dsn else None)
        return dsn is not None

    def tracer_provider(
        self, settings: Settings, exporter: SpanExporter | None = None, *, role: str | None = None
    ) -> TracerProvider | None:
        self.roles.append(role)
        return observability.tracer_provider(settings, exporter or self.spans, role=role)


@pytest.fixture
def observed(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Observed:
    seen = Observed()
    monkeypatch.setenv("ORDERLY_BROKER_URL", "memory://")
    monkeypatch.setenv("ORDERLY_SENTRY_DSN", "https://key@sentry.invalid/1")
    monkeypatch.setattr(processes, "configure_sentry", seen.configure_sentry)
    monkeypatch.setattr(processes, "tracer_provider", seen.tracer_provider)

    def started(_: Celery, argv: list[str]) -> None:
        seen.started.append(argv)

    monkeypatch.setattr(Celery, "worker_main", started)
    monkeypatch.setattr(Celery, "start", started)
    return seen


def test_worker_and_beat_report_errors_to_sentry(cli: Cli, observed: Observed) -> None:
    cli("worker", "--concurrency", "1")
    cli("beat", "--schedule", "var/beat")
    assert observed.sentry == ["https://key@sentry.invalid/1"] * 2
    assert [argv[0] for argv in observed.started] == ["worker", "beat"]


def test_the_relay_reports_errors_and_traces_what_it_publishes(
    cli: Cli, observed: Observed, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = UserRegistered(user_id=uuid.uuid4(), email="rae@example.com", full_name="Rae")
    row = OutboxMessage(
        id=event.event_id,
        event_type=event.name,
        payload=event.to_payload(),
        traceparent=f"00-{PARENT_TRACE:032x}-{PARENT_SPAN:016x}-01",
    )

    async def one_pass(relay: OutboxRelay, stop: asyncio.Event, *, interval: float) -> None:
        await relay._deliver(row)  # what the real pass does with each claimed row

    monkeypatch.setattr(OutboxRelay, "run", one_pass)
    cli("relay")
    assert observed.sentry == ["https://key@sentry.invalid/1"]
    assert observed.roles == ["relay"]
    [span] = observed.spans.get_finished_spans()  # exported when the relay shut down
    assert span.name == "publish UserRegistered"
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (PARENT_TRACE, PARENT_SPAN)
