"""The production job path with real processes: uvicorn + relay + Celery worker on PostgreSQL,
with Redis or RabbitMQ as the broker, the fake provider and an SMTP sink. Bounded waits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.databases import query
from tests.processes import Stack, eventually, make_item, received
from tests.services import ServiceSettings

pytestmark = pytest.mark.postgres


# The flow on RabbitMQ is the flow on Redis through another Celery transport: `make test`
# runs it on Redis, `make test-all` on both.
@pytest.fixture(params=["redis_broker", pytest.param("rabbitmq_broker", marks=pytest.mark.slow)])
def broker_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    settings: dict[str, str] = request.getfixturevalue(request.param)
    return settings


def test_register_and_order_flow_through_the_broker(
    tmp_path: Path, postgres_url: str, broker_settings: dict[str, str]
) -> None:
    stack = Stack(tmp_path, {"ORDERLY_DATABASE_URL": postgres_url, **broker_settings})
    try:
        ready = httpx.get(f"{stack.api.base}/health/ready", timeout=10).json()
        assert ready["checks"]["broker"]["status"] == "ok"
        customer = stack.customer()
        eventually(
            lambda: [m for m in received(stack.mail) if m["To"] == customer["email"]],
            "the welcome mail in the SMTP sink",
        )
        order_id = stack.order(customer, make_item(postgres_url))
        eventually(lambda: stack.status(customer, order_id) == "paid", "the order to be paid")
        confirmation = eventually(
            lambda: [m for m in received(stack.mail) if order_id in str(m["Subject"])],
            "the order confirmation",
        )
        assert confirmation[0]["To"] == customer["email"]
        assert stack.charges(order_id) == 1
    finally:
        stack.stop()


@pytest.mark.slow  # ~30 s: the broker's visibility timeout must pass; `make test` covers a
# redelivered OrderPlaced charging once in-process (test_jobs_embedded)
def test_a_worker_killed_mid_payment_charges_once_after_restart(
    tmp_path: Path, postgres_url: str, redis_broker: dict[str, str]
) -> None:
    settings = {
        "ORDERLY_DATABASE_URL": postgres_url,
        **redis_broker,
        # short, so the unacknowledged task comes back quickly; limits stay below it
        "ORDERLY_BROKER_VISIBILITY_TIMEOUT": "12",
        "ORDERLY_TASK_SOFT_TIME_LIMIT": "8",
        "ORDERLY_TASK_TIME_LIMIT": "10",
        "ORDERLY_TASK_RETRY_BACKOFF_MAX": "5",
        "provider_args": "--latency-ms 3000",
    }
    stack = Stack(tmp_path, settings)
    try:
        customer = stack.customer()
        order_id = stack.order(customer, make_item(postgres_url))
        # The provider counts a request as it arrives, then waits 3 s before charging:
        # once it has one, the payment task is in flight.
        eventually(
            lambda: httpx.get(f"{stack.provider.base}/_stats", timeout=5).json()["requests"],
            "the payment task to call the provider",
            wait=30,
        )
        stack.worker.kill_group()
        assert stack.status(customer, order_id) == "pending_payment"
        stack.worker = stack.start_worker()
        eventually(
            lambda: stack.status(customer, order_id) == "paid", "paid after restart", wait=60
        )
        assert stack.charges(order_id) == 1
    finally:
        stack.stop()


@pytest.mark.slow  # fault injection: make test-all
def test_events_wait_for_an_unreachable_broker_and_go_out_once_it_is_back(
    tmp_path: Path, postgres_url: str, redis_broker: dict[str, str]
) -> None:
    settings = {"ORDERLY_DATABASE_URL": postgres_url, **redis_broker}
    stack = Stack(tmp_path, settings)
    try:
        stack.relay.stop()
        stack.relay = stack.start_relay(ORDERLY_BROKER_URL="redis://127.0.0.1:1/0")
        customer = stack.customer()
        item = make_item(postgres_url)
        orders = [stack.order(customer, item) for _ in range(3)]  # the API still answers 201
        time.sleep(2)
        assert {stack.status(customer, o) for o in orders} == {"pending_payment"}
        metrics = httpx.get(f"{stack.api.base}/metrics", timeout=10).text
        assert "orderly_outbox_pending 4.0" in metrics  # 1 registration + 3 orders
        stack.relay.stop()
        stack.relay = stack.start_relay()  # the broker is reachable again
        eventually(lambda: all(stack.status(customer, o) == "paid" for o in orders), "all paid")
        assert [stack.charges(o) for o in orders] == [1, 1, 1]
        eventually(
            lambda: (
                "orderly_outbox_pending 0.0"
                in httpx.get(f"{stack.api.base}/metrics", timeout=10).text
            ),
            "the outbox to drain",
        )
    finally:
        stack.stop()


@pytest.mark.slow  # fault injection: make test-all
def test_events_the_broker_lost_are_handed_over_again_and_handled_once(
    tmp_path: Path, postgres_url: str, redis_broker: dict[str, str]
) -> None:
    """Redis restarted without persistence drops its queues: simulated by deleting the queued
    tasks while no worker runs. Nobody acknowledges those events, so the relay hands them
    over again after ORDERLY_OUTBOX_ACK_TIMEOUT, and the order is paid and confirmed once."""
    settings = {
        "ORDERLY_DATABASE_URL": postgres_url,
        **redis_broker,
        "ORDERLY_OUTBOX_ACK_TIMEOUT": "3",
    }
    stack = Stack(tmp_path, settings)
    try:
        stack.worker.stop()
        customer = stack.customer()
        order_id = stack.order(customer, make_item(postgres_url))
        placed = (  # the database may hold other tests' events: this order's only
            "SELECT deliveries, handled_at FROM outbox "
            "WHERE event_type = 'OrderPlaced' AND payload->>'order_id' = $1"
        )
        eventually(
            lambda: query(postgres_url, placed, order_id)[0]["deliveries"] == 1, "the hand-over"
        )
        broker = redis.Redis.from_url(ServiceSettings().redis_url)
        prefix = redis_broker["ORDERLY_REDIS_KEY_PREFIX"]
        queued = list(broker.scan_iter(match=f"{prefix}:celery:*", count=500))
        assert queued, f"no task waits in Redis: {list(broker.scan_iter(match=f'{prefix}*'))}"
        broker.delete(*queued)  # what a restart without persistence does
        broker.close()

        stack.worker = stack.start_worker()
        eventually(lambda: stack.status(customer, order_id) == "paid", "the order to be paid", 60)
        [row] = query(postgres_url, placed, order_id)
        assert row["deliveries"] >= 2
        assert row["handled_at"] is not None
        eventually(
            lambda: [m for m in received(stack.mail) if order_id in str(m["Subject"])],
            "the order confirmation",
        )
        assert stack.charges(order_id) == 1
    finally:
        stack.stop()
