"""Orders paid through the fake payment provider running as its own process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from orderly.container import Container
from orderly.core.config import Settings
from orderly.integrations.breaker import BreakerState
from tests.conftest import Account
from tests.integration.test_items import add_item
from tests.integration.test_orders import run_jobs
from tests.processes import Process, start_fake_provider
from tests.unit.test_breaker import state_of

ORDERS = "/api/v1/orders"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = start_fake_provider(
        tmp_path_factory.mktemp("provider"), "--api-key", "sk_test_e2e", "--slow-seconds", "1.5"
    )
    yield process
    process.stop()


@pytest.fixture
def settings(settings: Settings, provider: Process) -> Settings:
    httpx.post(f"{provider.base}/_control", json={"down": False, "failure_rate": 0}, timeout=5)
    return settings.model_copy(
        update={
            "payment_provider_url": provider.base,
            "payment_api_key": SecretStr("sk_test_e2e"),
            "payment_timeout": 0.5,
            "payment_retry_attempts": 2,
            "payment_breaker_threshold": 3,
            "payment_breaker_reset_seconds": 1.0,
        }
    )


def stats(provider: Process) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{provider.base}/_stats", timeout=5).json()
    return result


async def control(provider: Process, **changes: object) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        (await http.post(f"{provider.base}/_control", json=changes)).raise_for_status()


async def order_for(
    client: httpx.AsyncClient, container: Container, customer: Account, method: str
) -> str:
    item = await add_item(container, f"SKU-{uuid.uuid4().hex[:8]}", price_minor=1999, stock=5)
    body = {"lines": [{"item_id": str(item.id), "quantity": 1}], "payment_method": method}
    response = await client.post(ORDERS, json=body, headers=customer.headers)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


async def pay(client: httpx.AsyncClient, customer: Account, order_id: str) -> httpx.Response:
    return await client.post(f"{ORDERS}/{order_id}/pay", headers=customer.headers)


def charge_key(order_id: str) -> str:
    return f"order-{order_id}-charge"


async def test_success(
    client: httpx.AsyncClient, container: Container, customer: Account, provider: Process
) -> None:
    order_id = await order_for(client, container, customer, "pm_card_visa")
    assert (await pay(client, customer, order_id)).json()["status"] == "paid"
    assert stats(provider)["charges"][charge_key(order_id)] == 1


async def test_decline(
    client: httpx.AsyncClient, container: Container, customer: Account, provider: Process
) -> None:
    order_id = await order_for(client, container, customer, "pm_card_chargeDeclined")
    assert (await pay(client, customer, order_id)).json()["status"] == "payment_failed"
    assert charge_key(order_id) not in stats(provider)["charges"]


async def test_timeout_then_success_charges_once(
    client: httpx.AsyncClient, container: Container, customer: Account, provider: Process
) -> None:
    # The provider charges on the first attempt but answers after 1.5 s; the client gives up
    # after 0.5 s and retries with the same idempotency key, which replays the charge.
    order_id = await order_for(client, container, customer, "pm_card_slow_1")
    response = await pay(client, customer, order_id)
    assert response.json()["status"] == "paid", response.text
    books = stats(provider)
    assert books["attempts"][charge_key(order_id)] == 1  # the retry was a replay
    assert books["charges"][charge_key(order_id)] == 1


async def test_provider_down_opens_the_breaker_then_recovers(
    client: httpx.AsyncClient, container: Container, customer: Account, provider: Process
) -> None:
    order_id = await order_for(client, container, customer, "pm_card_visa")
    await control(provider, down=True)
    breaker = container.payment_provider.breaker
    for _ in range(2):  # 2 attempts each: the third failure opens the breaker
        assert (await pay(client, customer, order_id)).status_code == 503
    assert state_of(breaker) is BreakerState.OPEN
    seen = stats(provider)["requests"]
    fast = await pay(client, customer, order_id)
    assert fast.status_code == 503
    assert stats(provider)["requests"] == seen  # failed fast, the provider was not asked
    status = (await client.get(f"{ORDERS}/{order_id}", headers=customer.headers)).json()
    assert status["status"] == "pending_payment"

    await control(provider, down=False)
    await asyncio.sleep(1.1)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    recovered = await pay(client, customer, order_id)
    assert recovered.json()["status"] == "paid", recovered.text
    assert state_of(breaker) is BreakerState.CLOSED
    assert stats(provider)["charges"][charge_key(order_id)] == 1


async def test_cancelling_a_paid_order_refunds_it(
    client: httpx.AsyncClient, container: Container, customer: Account, provider: Process
) -> None:
    order_id = await order_for(client, container, customer, "pm_card_visa")
    await pay(client, customer, order_id)
    cancelling = await client.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)
    assert cancelling.json()["status"] == "cancelling"  # the refund is a worker's job
    await run_jobs(container)
    current = await client.get(f"{ORDERS}/{order_id}", headers=customer.headers)
    assert current.json()["status"] == "cancelled"
    assert stats(provider)["refunds"][f"order-{order_id}-refund"] == 1


def test_the_provider_process_checks_its_api_key(provider: Process, tmp_path: Path) -> None:
    response = httpx.post(
        f"{provider.base}/v1/payment_intents",
        json={"amount": 1, "currency": "eur", "payment_method": "pm_card_visa"},
        headers={"Idempotency-Key": "k", "Authorization": "Bearer wrong"},
        timeout=5,
    )
    assert response.status_code == 401
