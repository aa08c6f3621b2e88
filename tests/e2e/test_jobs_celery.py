"""The production job path with real processes: uvicorn + relay + Celery worker on PostgreSQL,
with Redis or RabbitMQ as the broker, the fake provider and an SMTP sink. Bounded waits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.databases import (
    unavailable,
)
from tests.processes import (
    ORDERLY,
    Process,
    clean_env,
    free_port,
    start_fake_provider,
    start_orderly,
)
from tests.services import ServiceSettings

pytestmark = pytest.mark.postgres
WAIT = 45.0


def eventually(check: Callable[[], Any], what: str, wait: float = WAIT) -> Any:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"not within {wait}s: {what}")


def received(folder: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=default)
        for p in sorted(folder.glob("*.eml"))
    ]


def rabbitmq_ctl_path() -> str:
    return shutil.which("rabbitmqctl") or "rabbitmqctl"


def rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(  # noqa: S603 - fixed arguments of our own
        [rabbitmq_ctl_path(), *args], check=check, capture_output=True, timeout=60
    )


@pytest.fixture
def rabbitmq_broker() -> Iterator[dict[str, str]]:
    """A vhost of this test's own on the RabbitMQ server, deleted afterwards."""
    services = ServiceSettings()
    vhost = f"orderly_test_{uuid.uuid4().hex[:8]}"
    try:
        for args in (
            ["add_vhost", vhost],
            ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        ):
            rabbitmqctl(*args)
    except (OSError, subprocess.SubprocessError) as error:
        unavailable("RabbitMQ (rabbitmqctl)", error)
    yield {"ORDERLY_BROKER_URL": f"{services.amqp_url}/{vhost}"}
    rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def redis_broker() -> Iterator[dict[str, str]]:
    """The Redis server under a key prefix of this test's own, removed afterwards."""
    services = ServiceSettings()
    client = redis.Redis.from_url(services.redis_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {services.redis_url}", error)
    prefix = f"orderly-test-{uuid.uuid4().hex[:10]}"
    yield {"ORDERLY_BROKER_URL": services.redis_url, "ORDERLY_REDIS_KEY_PREFIX": prefix}
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


class Stack:
    """API, relay and worker processes sharing one database, broker, provider and SMTP sink."""

    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        self.workdir = workdir
        self.settings = settings
        self.processes: list[Process] = []
        self.mail = workdir / "sink"
        sink_port = free_port()
        self.sink = self._start(
            [
                sys.executable,
                str(Path(__file__).parents[1] / "smtp_sink.py"),
                "--port",
                str(sink_port),
                "--dir",
                str(self.mail),
            ]
        )
        self.provider = start_fake_provider(workdir, *settings.pop("provider_args", "").split())
        self.processes.append(self.provider)
        self.settings.update(
            ORDERLY_SMTP_HOST="127.0.0.1",
            ORDERLY_SMTP_PORT=str(sink_port),
            ORDERLY_SMTP_STARTTLS="false",
            ORDERLY_PAYMENT_PROVIDER_URL=self.provider.base,
            ORDERLY_SEED_DEMO_DATA="false",
            ORDERLY_AUTO_MIGRATE="false",
        )
        self.api = start_orderly(workdir, **self.settings)
        self.processes.append(self.api)
        self.relay = self._start([str(ORDERLY), "relay"])
        self.worker = self.start_worker()

    def _start(self, args: list[str], **extra: str) -> Process:
        process = Process(args, workdir=self.workdir, env=clean_env(**{**self.settings, **extra}))
        self.processes.append(process)
        return process

    def start_worker(self) -> Process:
        return self._start(
            [
                str(ORDERLY),
                "worker",
                "--concurrency",
                "1",
                "--hostname",
                f"w{uuid.uuid4().hex[:6]}@%h",
            ]
        )

    def start_relay(self, **extra: str) -> Process:
        return self._start([str(ORDERLY), "relay"], **extra)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # -- a customer, through the API --------------------------------------------------------

    def customer(self) -> dict[str, str]:
        email = f"c{uuid.uuid4().hex[:8]}@example.com"
        with httpx.Client(base_url=self.api.base, timeout=30) as http:
            http.post(
                "/api/v1/auth/register",
                json={"email": email, "password": "a-long-passphrase", "full_name": "Cus Tomer"},
            ).raise_for_status()
            token = http.post(
                "/api/v1/auth/token", data={"username": email, "password": "a-long-passphrase"}
            ).json()["access_token"]
        return {"email": email, "Authorization": f"Bearer {token}"}

    def order(self, customer: dict[str, str], item_id: str, method: str = "pm_card_visa") -> str:
        body = {"lines": [{"item_id": item_id, "quantity": 1}], "payment_method": method}
        headers = {"Authorization": customer["Authorization"]}
        response = httpx.post(
            f"{self.api.base}/api/v1/orders", json=body, headers=headers, timeout=30
        )
        assert response.status_code == 201, response.text
        order_id: str = response.json()["id"]
        return order_id

    def status(self, customer: dict[str, str], order_id: str) -> str:
        headers = {"Authorization": customer["Authorization"]}
        answer = httpx.get(f"{self.api.base}/api/v1/orders/{order_id}", headers=headers, timeout=30)
        status: str = answer.json()["status"]
        return status

    def charges(self, order_id: str) -> int:
        stats = httpx.get(f"{self.provider.base}/_stats", timeout=10).json()
        count: int = stats["charges"].get(f"order-{order_id}-charge", 0)
        return count


def make_item(postgres_url: str, stock: int = 100) -> str:
    """An item straight through the service layer (admin work is not under test here)."""
    import asyncio

    from orderly.container import Container
    from orderly.core.config import Environment, Settings

    async def create() -> str:
        container = Container.build(
            Settings(_env_file=None, environment=Environment.TEST, database_url=postgres_url)
        )
        try:
            item = await container.catalog.create_item(
                sku=f"E2E-{uuid.uuid4().hex[:8]}",
                name="Kettle",
                price_minor=2999,
                currency="EUR",
                stock=stock,
            )
        finally:
            await container.close()
        return str(item.id)

    return asyncio.run(create())


@pytest.fixture(params=["redis_broker", "rabbitmq_broker"])
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
