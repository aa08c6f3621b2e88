"""A real ``orderly worker --metrics-port`` on the Redis broker: after an order is paid its
/metrics shows the tasks it ran (counted in its pool processes, summed by the main one)
and the payment provider's latency, measured where the payment really ran."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.metrics import sample
from tests.processes import ORDERLY, Stack, eventually, free_port, make_item

pytestmark = pytest.mark.postgres


def scrape(url: str) -> str:
    """The metrics text, or "" while the worker is not listening yet."""
    try:
        return httpx.get(url, timeout=5).raise_for_status().text
    except httpx.HTTPError:
        return ""


def test_the_worker_serves_its_task_counts_after_an_order_is_paid(
    tmp_path: Path, postgres_url: str, redis_broker: dict[str, str]
) -> None:
    stack = Stack(tmp_path, {"ORDERLY_DATABASE_URL": postgres_url, **redis_broker})
    try:
        stack.worker.stop()  # replaced by one that serves metrics
        port = free_port()
        stack.worker = stack._start(
            [str(ORDERLY), "worker", "--concurrency", "2", "--metrics-port", str(port)]
        )
        url = f"http://127.0.0.1:{port}/metrics"
        eventually(lambda: scrape(url), "the worker's /metrics")
        customer = stack.customer()
        order_id = stack.order(customer, make_item(postgres_url))
        eventually(lambda: stack.status(customer, order_id) == "paid", "the order to be paid")

        def handled() -> float:
            return sample(
                scrape(url),
                "orderly_tasks_total",
                task="orderly.handle_event",
                outcome="SUCCESS",
            )

        # user.registered, order.placed, order.paid at least, each handled by a task
        assert eventually(lambda: handled() >= 3, "three events handled in the worker's metrics")
        text = scrape(url)
        durations = "orderly_task_duration_seconds_count"
        assert sample(text, durations, task="orderly.handle_event") >= 3
        latency = "orderly_payment_provider_duration_seconds_count"
        assert sample(text, latency, operation="payment_intents", outcome="ok") >= 1
    finally:
        stack.stop()
