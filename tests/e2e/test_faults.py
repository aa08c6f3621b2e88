"""Fault injection with real processes (make test-all): the machine's PostgreSQL, Redis and
RabbitMQ restarted under order traffic, the payment provider degraded, relay and worker
SIGKILLed. After each, the invariant checker (tests/faults.py) compares the database with the
provider's records, the SMTP sink and the outbox: no committed order lost, nobody charged
twice, stock conserved, one confirmation per paid order, the outbox drained.

Every server a test stops is started again in a ``finally``, whatever the test's outcome."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import migrated_postgres, query
from tests.faults import Traffic, check_invariants, describe, outage, settled
from tests.metrics import sample
from tests.processes import Stack, eventually, free_port, make_item
from tests.services import ServiceSettings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
STOCK = 10_000
MAIL_GRACE = 90  # > ORDERLY_BROKER_VISIBILITY_TIMEOUT below
ShopFactory = Callable[..., "Shop"]


def settings_for(postgres_url: str, broker: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        "ORDERLY_DATABASE_URL": postgres_url,
        **broker,
        "ORDERLY_SECRET_KEY": "fault-injection-secret-key-0123456789-abcdef",
        "ORDERLY_RATE_LIMIT_REGISTER": "10000/minute",
        "ORDERLY_RATE_LIMIT_LOGIN": "10000/minute",
        "ORDERLY_RATE_LIMIT_WRITES": "100000/minute",
        "ORDERLY_DATABASE_POOL_SIZE": "4",
        "ORDERLY_DATABASE_MAX_OVERFLOW": "2",
        # a task whose worker died comes back within seconds (kept above the time limits)
        "ORDERLY_BROKER_VISIBILITY_TIMEOUT": "30",
        "ORDERLY_TASK_SOFT_TIME_LIMIT": "15",
        "ORDERLY_TASK_TIME_LIMIT": "20",
        "ORDERLY_TASK_RETRY_BACKOFF_MAX": "8",
        # an event the broker lost is handed over again after this (default ten minutes)
        "ORDERLY_OUTBOX_ACK_TIMEOUT": "45",
        **extra,
    }


class Shop:
    """A running stack with items and customers, and the traffic that goes through it."""

    def __init__(self, stack: Stack, postgres_url: str, methods: tuple[str, ...]) -> None:
        self.stack = stack
        self.url = postgres_url
        self.items = [make_item(postgres_url, stock=STOCK) for _ in range(3)]
        self.customers = [stack.customer() for _ in range(8)]
        self.traffic = Traffic([stack.api], self.customers, self.items, methods)

    def settle_and_check(self, wait: float = 180) -> dict[str, object]:
        """Once every order is paid or failed and the outbox is drained, the invariants must
        hold within MAIL_GRACE: a mail task whose worker was killed comes back only after
        the broker's visibility timeout."""
        eventually(lambda: settled(self.url), "every order paid or failed, outbox drained", wait)
        deadline = time.monotonic() + MAIL_GRACE
        while True:
            findings = check_invariants(
                self.stack, self.url, dict.fromkeys(self.items, STOCK), self.traffic.placed
            )
            if not findings.violations or time.monotonic() > deadline:
                break
            time.sleep(2)
        report = describe(self.traffic, findings)
        print(f"\n{json.dumps(report, indent=1)}")  # the figures for the notes (pytest -s)
        assert findings.violations == []
        assert self.traffic.placed, "no order went through at all"
        return report


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of each test's own: the invariant checker looks at every order in it."""
    yield from migrated_postgres(ServiceSettings())


@pytest.fixture
def shop_factory(tmp_path: Path, postgres_url: str) -> Iterator[ShopFactory]:
    stacks: list[Stack] = []

    def build(broker: dict[str, str], methods: tuple[str, ...] = ("pm_card_visa",)) -> Shop:
        stack = Stack(tmp_path, settings_for(postgres_url, broker))
        stacks.append(stack)
        return Shop(stack, postgres_url, methods)

    yield build
    for stack in stacks:
        stack.stop()


def answered_during(traffic: Traffic, start: float, end: float) -> list[int]:
    return [a.status for a in traffic.answers if start <= a.at <= end]


def first_success_after(traffic: Traffic, moment: float) -> float:
    successes = [a.at for a in traffic.answers if a.at > moment and 200 <= a.status < 300]
    assert successes, "nothing succeeded after the server came back"
    return min(successes) - moment


@pytest.mark.servers
def test_postgres_restarted_under_order_traffic(
    shop_factory: ShopFactory, redis_broker: dict[str, str]
) -> None:
    shop = shop_factory(redis_broker)
    runner = shop.traffic.start(threads=6, seconds=30)
    time.sleep(8)
    with outage("postgres") as down_at:
        time.sleep(6)
    up_at = time.monotonic()
    runner.join(timeout=120)

    during = answered_during(shop.traffic, down_at + 0.5, up_at)
    assert 503 in during, f"no 503 while PostgreSQL was down: {sorted(set(during))}"
    assert shop.traffic.server_errors() == [], "a 5xx other than 503 problem+json + Retry-After"
    recovered = first_success_after(shop.traffic, up_at)
    assert recovered <= 5, f"first success {recovered:.1f} s after PostgreSQL returned"
    shop.settle_and_check()


@pytest.mark.servers
def test_redis_restarted_as_broker_rate_limit_store_and_pubsub(
    shop_factory: ShopFactory, redis_broker: dict[str, str]
) -> None:
    """This machine's Redis keeps nothing across a restart (no RDB, no AOF), so the tasks queued
    in it when it stops are gone. No worker acknowledges their events, so the relay hands them
    over again after ORDERLY_OUTBOX_ACK_TIMEOUT: the orders are charged, their confirmations
    sent (before this, 3 charged orders of ~1,000 lost their mail). In production still give
    the broker persistence (deploy/compose.yaml runs Redis with --appendonly yes), or use
    RabbitMQ: a redelivery waits out the timeout."""
    expiry = {"ORDERLY_ORDER_PAYMENT_TIMEOUT": "120", "ORDERLY_ORDER_EXPIRY_INTERVAL": "5"}
    shop = shop_factory(
        {**redis_broker, "ORDERLY_REDIS_URL": ServiceSettings().redis_url, **expiry}
    )
    shop.stack.start_beat()
    runner = shop.traffic.start(threads=6, seconds=30)
    time.sleep(8)
    with outage("redis"):
        time.sleep(5)
    up_at = time.monotonic()
    runner.join(timeout=120)

    assert shop.traffic.server_errors() == []
    assert first_success_after(shop.traffic, up_at) <= 5
    shop.settle_and_check()


@pytest.mark.servers
def test_rabbitmq_restarted_during_the_pipeline(
    shop_factory: ShopFactory, rabbitmq_broker: dict[str, str]
) -> None:
    shop = shop_factory(rabbitmq_broker)
    runner = shop.traffic.start(threads=6, seconds=30)
    time.sleep(8)
    with outage("rabbitmq"):
        time.sleep(3)
    runner.join(timeout=180)

    # the API does not need the broker to take orders: the outbox holds them until it is back
    assert shop.traffic.server_errors() == []
    shop.settle_and_check(wait=240)


def test_relay_and_worker_killed_at_random_moments(
    shop_factory: ShopFactory, redis_broker: dict[str, str]
) -> None:
    shop = shop_factory(redis_broker, methods=("pm_card_visa", "pm_card_chargeDeclined"))
    stack = shop.stack
    relay, worker = stack.relay, stack.worker
    rng = random.Random(19)
    runner = shop.traffic.start(threads=4, seconds=40)
    kills = 0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and kills < 8:
        time.sleep(rng.uniform(2, 5))
        victim = relay if kills % 2 == 0 else worker
        victim.kill_group()
        stack.processes.remove(victim)
        if victim is relay:
            relay = stack.start_relay()
        else:
            worker = stack.start_worker()
        kills += 1
    runner.join(timeout=120)

    assert kills >= 6
    assert shop.traffic.server_errors() == []
    report = shop.settle_and_check(wait=240)
    assert report["orders"]


def breaker_state(metrics_url: str) -> float:
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.TransportError:
        return -1
    return sample(text, "orderly_circuit_breaker_state", peer="payments")


def test_payment_provider_degraded_for_a_minute_then_healthy(
    shop_factory: ShopFactory, redis_broker: dict[str, str]
) -> None:
    """50 % errors and 2 s latency for a minute: the workers' breaker opens; once the provider
    is healthy it closes again, and every order ends paid or failed with a reason."""
    shop = shop_factory(redis_broker)
    stack = shop.stack
    stack.worker.stop()
    stack.processes.remove(stack.worker)
    port = free_port()
    # An order whose charge task gave up (its retries spent while the provider was down) ends
    # as designed: beat expires it once its payment time is over (here 2 minutes).
    expiry = {"ORDERLY_ORDER_PAYMENT_TIMEOUT": "120", "ORDERLY_ORDER_EXPIRY_INTERVAL": "5"}
    stack.start_worker(
        concurrency=2,
        extra={
            "ORDERLY_PAYMENT_BREAKER_THRESHOLD": "3",
            "ORDERLY_PAYMENT_BREAKER_RESET_SECONDS": "5",
            **expiry,
        },
        metrics_port=port,
    )
    stack.start_beat(extra=expiry)
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    eventually(lambda: breaker_state(metrics_url) >= 0, "the worker's metrics")
    control = f"{stack.provider.base}/_control"
    httpx.post(control, json={"failure_rate": 0.5, "latency_ms": 2000}, timeout=10)
    shop.traffic.pause = 1.0  # about as many orders as a degraded provider can take
    runner = shop.traffic.start(threads=2, seconds=60)
    seen: set[float] = set()
    deadline = time.monotonic() + 70
    while runner.is_alive() and time.monotonic() < deadline:
        seen.add(breaker_state(metrics_url))
        time.sleep(0.5)
    runner.join(timeout=60)
    httpx.post(control, json={"failure_rate": 0.0, "latency_ms": 0}, timeout=10)
    assert 2 in seen, f"the breaker never opened (states seen: {sorted(seen)})"

    # healthy again: new orders are paid, and the breaker closes after its cool-down
    customer = shop.customers[0]
    fresh = [stack.order(customer, shop.items[0]) for _ in range(3)]
    eventually(
        lambda: all(stack.status(customer, order) == "paid" for order in fresh),
        "orders paid once the provider is healthy",
        90,
    )
    eventually(lambda: breaker_state(metrics_url) == 0, "the breaker to close", 30)
    shop.traffic.placed.update(dict.fromkeys(fresh, 1))
    shop.settle_and_check(wait=240)
    unexplained = query(
        shop.url,
        "SELECT o.id FROM orders o LEFT JOIN payments p ON p.order_id = o.id "
        "WHERE o.status = 'payment_failed' AND p.last_error IS NULL",
    )
    assert unexplained == [], "orders failed without a reason"
