"""Prometheus metrics of the Celery processes: tasks by name and outcome, their duration,
retries (worker), and tasks published by name and queue (relay, beat, and a worker that
starts a chain).

Tasks run in the worker's pool processes (prefork), so their numbers are kept in
prometheus_client's multiprocess directory and the worker's main process serves the sum of
all of them (``serve``). The directory must be chosen before prometheus_client is imported,
which is why ``orderly worker --metrics-port`` starts itself again with it set.
The other metrics the tasks move (payment latency, circuit breaker state, webhooks; see
core/metrics.py) are served alongside, from where the payments really run.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import (
    after_task_publish,
    task_postrun,
    task_prerun,
    task_retry,
    worker_process_shutdown,
)
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)

TASKS = Counter(
    "orderly_tasks_total",
    "Tasks run by a worker, by name and outcome (Celery state: SUCCESS, FAILURE, RETRY, ...)",
    ["task", "outcome"],
)
TASK_DURATION = Histogram(
    "orderly_task_duration_seconds",
    "Time a worker took to run a task",
    ["task"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TASK_RETRIES = Counter("orderly_task_retries_total", "Task retries scheduled", ["task"])
TASKS_PUBLISHED = Counter(
    "orderly_tasks_published_total",
    "Tasks sent to the broker, by name and queue",
    ["task", "queue"],
)

_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    name = getattr(task, "name", None) or "unknown"
    TASKS.labels(name, state or "UNKNOWN").inc()
    started = _started.pop(task_id or "", None)
    if started is not None:
        TASK_DURATION.labels(name).observe(time.perf_counter() - started)


@task_retry.connect
def _task_retried(sender: Any = None, **_: Any) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", None) or "unknown").inc()


@after_task_publish.connect
def _task_published(sender: str | None = None, routing_key: str | None = None, **_: Any) -> None:
    TASKS_PUBLISHED.labels(sender or "unknown", routing_key or "unknown").inc()


@worker_process_shutdown.connect
def _pool_process_gone(pid: int | None = None, **_: Any) -> None:
    # The live gauges (breaker state "livemax", in-flight counts "livesum") drop its numbers.
    if pid is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from outside  # nosec B104
    """Serve ``/metrics`` from this process in a thread: the sum over the multiprocess dir
    when there is one (the worker's own, or one shared by every process on a host), else
    this process's numbers."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
