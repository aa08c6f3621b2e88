"""Real ``orderly worker``, ``relay`` and ``beat`` processes with ``--metrics-port`` on the
Redis broker: after an order is paid the worker's /metrics shows the tasks it ran (counted in
its pool processes, summed by the main one), the provider's latency and the breaker's state,
measured where the payment really ran; the relay's shows what it handed on, the outbox
backlog and the queue depths; beat's shows the scheduled tasks it sent."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from tests.metrics import sample, scrape_url
from tests.processes import Stack, eventually, free_port, make_item

pytestmark = pytest.mark.postgres


def test_worker_relay_and_beat_serve_their_metrics_after_an_order_is_paid(
    tmp_path: Path, postgres_url: str, redis_broker: dict[str, str]
) -> None:
    stack = Stack(tmp_path, {"ORDERLY_DATABASE_URL": postgres_url, **redis_broker})
    try:
        stack.worker.stop()  # worker and relay replaced by ones that serve metrics
        stack.relay.stop()
        ports = {name: free_port() for name in ("worker", "relay", "beat")}
        stack.worker = stack.start_worker(concurrency=2, metrics_port=ports["worker"])
        stack.relay = stack.start_relay(metrics_port=ports["relay"])
        stack.start_beat({"ORDERLY_ORDER_EXPIRY_INTERVAL": "1"}, metrics_port=ports["beat"])
        url = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
        for name, address in url.items():
            eventually(partial(scrape_url, address), f"the {name}'s /metrics")
        customer = stack.customer()
        order_id = stack.order(customer, make_item(postgres_url))
        eventually(lambda: stack.status(customer, order_id) == "paid", "the order to be paid")

        def handled() -> float:
            return sample(
                scrape_url(url["worker"]),
                "orderly_tasks_total",
                task="orderly.handle_event",
                outcome="SUCCESS",
            )

        # UserRegistered, OrderPlaced, OrderPaid at least, each handled by a task
        assert eventually(lambda: handled() >= 3, "three events handled in the worker's metrics")
        worker = scrape_url(url["worker"])
        durations = "orderly_task_duration_seconds_count"
        assert sample(worker, durations, task="orderly.handle_event") >= 3
        latency = "orderly_payment_provider_duration_seconds_count"
        assert sample(worker, latency, operation="payment_intents", outcome="ok") >= 1
        assert 'orderly_circuit_breaker_state{peer="payments"} 0.0' in worker  # closed

        relay = scrape_url(url["relay"])
        assert sample(relay, "orderly_outbox_relayed_total", outcome="delivered") >= 3
        published = "orderly_tasks_published_total"
        assert sample(relay, published, task="orderly.handle_event", queue="payments") == 1

        def drained() -> bool:  # sampled every second: nothing waits any more
            text = scrape_url(url["relay"])
            return 'orderly_queue_depth{queue="payments"} 0.0' in text and (
                "orderly_outbox_pending 0.0" in text and "orderly_outbox_lag_seconds 0.0" in text
            )

        eventually(drained, "the relay to sample an empty outbox and queue")
        beat = scrape_url(url["beat"])
        assert sample(beat, published, task="orderly.expire_orders", queue="default") >= 1
    finally:
        stack.stop()
