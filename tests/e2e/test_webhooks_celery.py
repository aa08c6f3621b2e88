"""Webhooks on real processes: API, relay, Celery worker and beat on PostgreSQL and Redis, and
``orderly fake-receiver``. One stack for the module; each test has its own receiver path and
endpoint (deleted afterwards) and looks only at its own order. Bounded waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from orderly.container import Container
from orderly.models import Role
from tests.conftest import TEST_SECRET, make_account, settings_for
from tests.e2e.conftest import redis_under_own_prefix
from tests.processes import Process, Stack, eventually, make_item, start_fake_receiver

pytestmark = pytest.mark.postgres
ENDPOINTS = "/api/v1/webhooks/endpoints"
SETTINGS = {
    "ORDERLY_WEBHOOK_POLL_INTERVAL": "0.5",  # beat's sending pass
    "ORDERLY_WEBHOOK_RETRY_INITIAL": "0.5",
    "ORDERLY_WEBHOOK_RETRY_FACTOR": "1.5",
    "ORDERLY_WEBHOOK_TIMEOUT": "4",
    "ORDERLY_WEBHOOK_LEASE": "6",  # a killed sender's delivery is due again after this
    "ORDERLY_SECRET_KEY": TEST_SECRET,
}


@pytest.fixture(scope="module")
def broker() -> Iterator[dict[str, str]]:
    """Redis under a key prefix of this module's own (the stack lives for the module)."""
    yield from redis_under_own_prefix()


class Hooks:
    """The stack, the receiver, an admin's token and an item to order."""

    def __init__(self, stack: Stack, receiver: Process, admin: str, item: str) -> None:
        self.stack, self.receiver, self.item = stack, receiver, item
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.customer = stack.customer()

    def register(self, path: str, **control: Any) -> dict[str, Any]:
        body = {"url": self.receiver.base + path, "event_types": ["order.paid"]}
        answer = httpx.post(self.stack.api.base + ENDPOINTS, json=body, headers=self.admin)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        self.control(path, **control)
        return created

    def control(self, path: str, **control: Any) -> None:
        body = {"path": path, **control}
        httpx.post(f"{self.receiver.base}/_control", json=body, timeout=5).raise_for_status()

    def api(self, method: str, path: str) -> Any:
        answer = httpx.request(method, self.stack.api.base + path, headers=self.admin, timeout=10)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def received(self, path: str, order_id: str) -> list[dict[str, Any]]:
        stats = httpx.get(f"{self.receiver.base}/_stats", params={"path": path}, timeout=5)
        entries = stats.json()["paths"].get(path, {}).get("received", [])
        return [e for e in entries if order_id in e["body"]]

    def paid_order(self) -> str:
        return self.stack.order(self.customer, self.item)


@pytest.fixture(scope="module")
def hooks(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, broker: dict[str, str]
) -> Iterator[Hooks]:
    workdir = tmp_path_factory.mktemp("webhooks")
    receiver = start_fake_receiver(workdir)
    stack = Stack(workdir, {"ORDERLY_DATABASE_URL": postgres_url, **broker, **SETTINGS})
    try:
        stack.start_beat()
        yield Hooks(stack, receiver, admin_token(postgres_url), make_item(postgres_url))
    finally:
        stack.stop()
        receiver.stop()


def admin_token(postgres_url: str) -> str:
    async def create() -> str:
        settings = settings_for(postgres_url)
        container = Container.build(settings)
        try:
            email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
            return (await make_account(container, email, role=Role.ADMIN)).access_token
        finally:
            await container.close()

    return asyncio.run(create())


@pytest.fixture
def path(hooks: Hooks) -> Iterator[str]:
    """A receiver path of the test's own; its endpoint is deleted afterwards."""
    name = f"/hook-{uuid.uuid4().hex[:8]}"
    yield name
    for endpoint in hooks.api("GET", ENDPOINTS + "?limit=100")["items"]:
        if endpoint["url"].endswith(name):
            hooks.api("DELETE", f"{ENDPOINTS}/{endpoint['id']}")


def test_a_paid_order_reaches_the_receiver_signed(hooks: Hooks, path: str) -> None:
    endpoint = hooks.register(path)
    order_id = hooks.paid_order()
    (entry,) = eventually(lambda: hooks.received(path, order_id), "order.paid at the receiver")
    assert entry["status"] == 200
    assert entry["verified"] is None  # the receiver had no secret: check it here
    payload = Webhook(endpoint["secret"]).verify(entry["body"].encode(), entry["headers"])
    assert payload["type"] == "order.paid"
    assert payload["data"]["to_status"] == "paid"


def test_failing_three_times_is_delivered_on_the_fourth_attempt_once(
    hooks: Hooks, path: str
) -> None:
    endpoint = hooks.register(path)
    hooks.control(path, secrets=[endpoint["secret"]], fail_first=3, retry_after="1")
    order_id = hooks.paid_order()
    eventually(
        lambda: [e for e in hooks.received(path, order_id) if e["status"] == 200], "delivered"
    )
    entries = hooks.received(path, order_id)
    assert [e["status"] for e in entries] == [500, 500, 500, 200]
    assert all(e["verified"] for e in entries)
    assert len({e["headers"]["webhook-id"] for e in entries}) == 1  # one effect
    (delivery,) = hooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}/deliveries")["items"]
    detail = hooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}/deliveries/{delivery['id']}")
    assert detail["status"] == "delivered"
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 500, 500, 200]
    assert all(a["duration_ms"] >= 0 and a["response"] for a in detail["attempt_log"])


def test_replay_sends_the_same_webhook_id_with_a_new_signature(hooks: Hooks, path: str) -> None:
    endpoint = hooks.register(path)
    order_id = hooks.paid_order()
    eventually(lambda: hooks.received(path, order_id), "the first delivery")
    (delivery,) = hooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}/deliveries")["items"]
    time.sleep(1.1)  # the signature covers the timestamp, in seconds
    hooks.api("POST", f"{ENDPOINTS}/{endpoint['id']}/deliveries/{delivery['id']}/replay")
    first, again = eventually(
        lambda: (found := hooks.received(path, order_id)) and len(found) == 2 and found,
        "the replay",
    )
    assert first["headers"]["webhook-id"] == again["headers"]["webhook-id"]
    assert first["headers"]["webhook-signature"] != again["headers"]["webhook-signature"]
    assert first["body"] == again["body"]
    Webhook(endpoint["secret"]).verify(again["body"].encode(), again["headers"])


def test_after_a_rotation_both_secrets_verify_during_the_overlap(hooks: Hooks, path: str) -> None:
    endpoint = hooks.register(path)
    rotated = hooks.api("POST", f"{ENDPOINTS}/{endpoint['id']}/rotate-secret")
    order_id = hooks.paid_order()
    (entry,) = eventually(lambda: hooks.received(path, order_id), "the delivery")
    assert len(entry["headers"]["webhook-signature"].split()) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        Webhook(secret).verify(entry["body"].encode(), entry["headers"])


def test_410_disables_the_endpoint_and_mails_the_admins(hooks: Hooks, path: str) -> None:
    endpoint = hooks.register(path, gone=True)
    order_id = hooks.paid_order()
    eventually(lambda: hooks.received(path, order_id), "the delivery answered 410")
    shown = eventually(
        lambda: (e := hooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}")) and not e["enabled"] and e,
        "the endpoint disabled",
    )
    assert shown["disabled_reason"] == "gone"
    mail_dir: Path = hooks.stack.mail
    eventually(
        lambda: [p for p in mail_dir.glob("*.eml") if path in p.read_text(errors="replace")],
        "the admins' mail",
    )
    later = hooks.paid_order()
    time.sleep(2)
    assert hooks.received(path, later) == []  # nothing more is sent to it


@pytest.mark.slow  # fault injection: make test-all
def test_a_sender_killed_mid_delivery_delivers_again_with_the_same_webhook_id(
    hooks: Hooks, path: str
) -> None:
    hooks.register(path, slow_first=1, slow_seconds=3)
    order_id = hooks.paid_order()
    eventually(lambda: hooks.received(path, order_id), "the delivery under way")
    hooks.stack.worker.kill_group()  # SIGKILL while the receiver is still answering
    hooks.stack.worker = hooks.stack.start_worker()
    first, again = eventually(
        lambda: (found := hooks.received(path, order_id)) and len(found) >= 2 and found[:2],
        "the delivery sent again after the lease",
        wait=45,
    )
    assert first["headers"]["webhook-id"] == again["headers"]["webhook-id"]
    assert again["status"] == 200
