"""Trace context across processes: the W3C ``traceparent`` of the span current when an event
is written goes with the event (outbox row, then the task's headers), and whoever handles
the event starts its span as a child of it. So one trace shows a request and everything it
set off: place -> pay -> mail, through the relay and the workers.

Only the OpenTelemetry API is used here (no SDK): with no tracer provider configured there
is no current span, ``current_traceparent`` is None and ``child_span`` does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """``00-<trace id>-<span id>-<flags>`` of the current span, or None outside any span."""
    if not get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


@contextmanager
def child_span(
    provider: TracerProvider | None,
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """A span, current inside the block, continuing the trace ``traceparent`` names (a new
    trace when it is None or malformed); nothing at all without a provider."""
    if provider is None:
        yield
        return
    parent = _PROPAGATOR.extract({TRACEPARENT: traceparent}) if traceparent else None
    tracer = provider.get_tracer("orderly")
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes):
        yield


def event_attributes(event_id: uuid.UUID | str, event_type: str) -> dict[str, str]:
    """What a span handling an event says about it."""
    return {"orderly.event_id": str(event_id), "orderly.event_type": event_type}
