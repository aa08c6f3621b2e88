"""Prometheus metrics: HTTP traffic, the database pool, and the business events of the shop.

Metric objects follow prometheus_client's idiom and live at module level in its default
registry; they hold numbers only. With several worker processes, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by the workers (``orderly serve
--workers N`` does this itself) and every worker's numbers are summed on each scrape.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from orderly.core.config import Settings

HTTP_REQUESTS = Counter(
    "orderly_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "orderly_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge(
    "orderly_http_requests_in_flight", "HTTP requests being handled", multiprocess_mode="livesum"
)
DB_POOL_IN_USE = Gauge(
    "orderly_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
USERS_REGISTERED = Counter("orderly_users_registered_total", "Accounts created")
ORDERS = Counter("orderly_orders_total", "Orders by what happened to them", ["event"])
PAYMENT_LATENCY = Histogram(
    "orderly_payment_provider_duration_seconds",
    "Time for one call to the payment provider, retries included",
    ["operation", "outcome"],
)
# Per process (each has its own breaker), set after every call to the peer; in multiprocess
# mode the worst live process counts (a dead process's breaker means nothing).
BREAKER_STATE = Gauge(
    "orderly_circuit_breaker_state",
    "0 closed, 1 half-open, 2 open",
    ["peer"],
    multiprocess_mode="livemax",
)
# Sampled (by the API at scrape time, by the relay periodically): the newest sample counts,
# not the largest one any process ever took.
OUTBOX_PENDING = Gauge(
    "orderly_outbox_pending",
    "Events committed but not yet handed on",
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG = Gauge(
    "orderly_outbox_lag_seconds",
    "Age of the oldest event not yet handed on",
    multiprocess_mode="mostrecent",
)
OUTBOX_RELAYED = Counter(
    "orderly_outbox_relayed_total",
    "Outbox events a relay handed on (delivered), failed to (failed: tried again later), or "
    "handed on again, unacknowledged by a worker (redelivered)",
    ["outcome"],
)
QUEUE_DEPTH = Gauge(
    "orderly_queue_depth",
    "Tasks waiting in a broker queue (sampled by the relay)",
    ["queue"],
    multiprocess_mode="mostrecent",
)
RATE_LIMITED = Counter("orderly_rate_limited_total", "Requests refused with 429", ["scope"])
WEBHOOK_ATTEMPTS = Counter(
    "orderly_webhook_attempts_total",
    "Webhook delivery attempts by outcome: delivered, retrying (will be tried again), failed "
    "(given up, or the endpoint was disabled)",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "orderly_webhook_attempt_duration_seconds",
    "Time for one webhook delivery attempt",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "orderly_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled by the sender: gone (410) or failing too long",
    ["reason"],
)


def record_outbox_backlog(pending: int, oldest: datetime | None) -> None:
    """How many events wait, and the age of the oldest (0 when none waits)."""
    OUTBOX_PENDING.set(pending)
    lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    OUTBOX_LAG.set(max(0.0, lag))


def render(settings: Settings) -> tuple[bytes, str]:
    """The exposition text: this process's registry, or all workers' in multiprocess mode."""
    if settings.prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
