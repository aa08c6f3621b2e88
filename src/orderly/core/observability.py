"""Off by default, on by settings: Sentry error reporting and OpenTelemetry tracing.

The SDKs are imported only when their setting is on: they add start-up time and memory to
every process, which most deployments do not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderly import __version__
from orderly.core.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine


def configure_sentry(settings: Settings, *, transport: Any = None) -> bool:
    """Initialise Sentry when ``ORDERLY_SENTRY_DSN`` is set (FastAPI integration is automatic)."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment.value,
        release=f"orderly@{__version__}",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        transport=transport,
    )
    return True


def tracer_provider(
    settings: Settings, exporter: SpanExporter | None = None, *, role: str | None = None
) -> TracerProvider | None:
    """A provider exporting to ``ORDERLY_OTEL_EXPORTER_OTLP_ENDPOINT`` (or the given exporter).
    ``role``: the process other than the API (worker, relay), named in the service name
    (``orderly-worker``), so a trace shows which process did what."""
    if exporter is None:
        if not settings.otel_exporter_otlp_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint)
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = f"{settings.otel_service_name}-{role}" if role else settings.otel_service_name
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/health/.*,/metrics"
    )


def instrument_clients(provider: TracerProvider, engine: AsyncEngine) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares "sqlalchemy < 2.1" but works with 2.1's unchanged event API;
    # without skip_dep_check it silently instruments nothing (the tracing test catches that).
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def uninstrument_clients() -> None:
    """Undo ``instrument_clients`` (the instrumentors are process-wide singletons: a later
    provider could not instrument while an earlier one still holds them)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().uninstrument()
    HTTPXClientInstrumentor().uninstrument()
