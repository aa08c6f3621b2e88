"""The webhooks admin API on SQLite and PostgreSQL: endpoints, bad input (a 4xx naming the
field, nothing written), deliveries made only from committed events, and the in-process
runner delivering to the fake receiver running as its own process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from standardwebhooks import Webhook

from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.events.types import event_from_payload
from orderly.integrations.webhooks import AddressPolicy, IPAddress
from orderly.main import create_app
from orderly.models import OutboxMessage, Role, WebhookDelivery, WebhookEndpoint
from orderly.services.webhooks import WebhookService
from tests.conftest import Account, assert_problem, make_account
from tests.databases import empty_all_tables
from tests.integration.test_items import add_item
from tests.processes import Process, start_fake_receiver

ENDPOINTS = "/api/v1/webhooks/endpoints"


async def count(container: Container, model: type[Any]) -> int:
    async with container.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def new_endpoint(**changes: Any) -> dict[str, Any]:
    return {
        "url": "http://127.0.0.1:9/hook",
        "description": "warehouse",
        "event_types": ["order.paid", "order.placed"],
        **changes,
    }


async def test_an_admin_manages_an_endpoint_and_sees_its_secret_once(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await client.post(ENDPOINTS, json=new_endpoint(), headers=admin.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert created.headers["location"] == f"{ENDPOINTS}/{body['id']}"
    shown = await client.get(created.headers["location"], headers=admin.headers)
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert body["secret"] not in (await client.get(ENDPOINTS, headers=admin.headers)).text

    changed = await client.patch(
        created.headers["location"],
        json={"enabled": False, "event_types": ["user.registered"]},
        headers=admin.headers,
    )
    assert changed.json()["enabled"] is False
    assert changed.json()["event_types"] == ["user.registered"]

    rotated = await client.post(
        created.headers["location"] + "/rotate-secret", headers=admin.headers
    )
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (body["secret"], None)
    until = datetime.fromisoformat(rotated.json()["previous_secret_until"])
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24)

    assert (
        await client.delete(created.headers["location"], headers=admin.headers)
    ).status_code == 204
    gone = await client.get(created.headers["location"], headers=admin.headers)
    assert_problem(gone, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (new_endpoint(url="not a url"), "url"),
        (new_endpoint(url="ftp://127.0.0.1/hook"), "url"),
        (new_endpoint(url="http://10.0.0.1/hook"), "url"),  # private: not even in development
        (new_endpoint(url="http://user:pw@127.0.0.1/hook"), "url"),
        (new_endpoint(url="http://127.0.0.1/\x00"), "url"),
        (new_endpoint(event_types=["order.shipped"]), "event_types"),
        (new_endpoint(event_types=[]), "event_types"),
        (new_endpoint(description="x" * 501), "description"),
        (new_endpoint(enabled=None), "enabled"),
        (new_endpoint(secret="whsec_mine"), "secret"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    admin: Account,
    container: Container,
    body: dict[str, Any],
    field: str,
) -> None:
    answer = await client.post(ENDPOINTS, json=body, headers=admin.headers)
    problem = assert_problem(answer, 422)
    assert any(e["field"].split(".")[0] == field for e in problem["errors"]), problem
    assert await count(container, WebhookEndpoint) == 0


async def test_a_patch_with_null_or_a_bad_url_changes_nothing(
    client: httpx.AsyncClient, admin: Account
) -> None:
    location = (await client.post(ENDPOINTS, json=new_endpoint(), headers=admin.headers)).headers[
        "location"
    ]
    for body, field in (({"url": None}, "url"), ({"url": "http://169.254.169.254/"}, "url")):
        assert_problem(await client.patch(location, json=body, headers=admin.headers), 422, field)
    assert (await client.get(location, headers=admin.headers)).json()["url"] == (
        "http://127.0.0.1:9/hook"
    )


async def test_customers_and_strangers_are_refused_everything(
    client: httpx.AsyncClient, customer: Account, container: Container
) -> None:
    for method, path in (
        ("POST", ENDPOINTS),
        ("GET", ENDPOINTS),
        ("GET", f"{ENDPOINTS}/00000000-0000-0000-0000-000000000000/deliveries"),
    ):
        body = new_endpoint() if method == "POST" else None
        assert_problem(await client.request(method, path, json=body, headers=customer.headers), 403)
        assert_problem(await client.request(method, path, json=body), 401)
    assert await count(container, WebhookEndpoint) == 0


async def stub_resolver(host: str, port: int) -> list[IPAddress]:
    return [ip_address({"hooks.example": "93.184.216.34"}.get(host, "10.0.0.1"))]


async def test_production_settings_refuse_loopback_metadata_and_private_names(
    settings: Settings, admin: Account
) -> None:
    # the address rules of production; its two-factor rule for admins is tested elsewhere
    production = settings.model_copy(
        update={"environment": Environment.PRODUCTION, "admin_require_mfa": False}
    )
    app = create_app(production)
    async with app.router.lifespan_context(app):
        built: Container = app.state.container
        built.webhooks = WebhookService(
            built.units_of_work,
            policy=AddressPolicy(require_https=True, resolver=stub_resolver),
            deliveries=built.webhook_deliveries,
            mailer=built.mailer,
            secret_overlap=timedelta(hours=1),
            endpoint_url=str,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for url in (
                "http://127.0.0.1/",
                "https://127.0.0.1/",
                "http://169.254.169.254/",
                "https://169.254.169.254/latest/meta-data/",
                "https://internal.example/hook",  # the stub resolves it to 10.0.0.1
            ):
                answer = await http.post(
                    ENDPOINTS, json=new_endpoint(url=url), headers=admin.headers
                )
                assert_problem(answer, 422, "url")
            accepted = await http.post(
                ENDPOINTS, json=new_endpoint(url="https://hooks.example/in"), headers=admin.headers
            )
            assert accepted.status_code == 201, accepted.text
            assert await count(built, WebhookEndpoint) == 1


async def test_deliveries_come_from_committed_events_once(
    client: httpx.AsyncClient, admin: Account, customer: Account, container: Container
) -> None:
    await client.post(ENDPOINTS, json=new_endpoint(), headers=admin.headers)
    item = await add_item(container, "HOOK-1", stock=1)
    order = {"lines": [{"item_id": str(item.id), "quantity": 1}]}
    assert (
        await client.post("/api/v1/orders", json=order, headers=customer.headers)
    ).status_code == 201
    refused = await client.post("/api/v1/orders", json=order, headers=customer.headers)
    assert refused.status_code == 409  # out of stock: rolled back, no event
    assert await count(container, WebhookDelivery) == 0  # the runner is off: nothing yet
    async with container.session_factory() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    for _ in range(2):  # at-least-once: every event handled twice
        for row in rows:
            await container.dispatcher.dispatch(event_from_payload(row.event_type, row.payload))
    assert await count(container, WebhookDelivery) == 1  # one order.placed, once


# -- the in-process runner and a real receiver ----------------------------------------------


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = start_fake_receiver(tmp_path_factory.mktemp("receiver"))
    yield process
    process.stop()


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(
            update={
                "embedded_jobs": True,
                "relay_interval": 0.05,
                "webhook_poll_interval": 0.1,
                "webhook_retry_initial": 0.2,
                "webhook_retry_factor": 1.5,
                "webhook_timeout": 2.0,
            }
        )
    )
    async with app.router.lifespan_context(app):
        yield app
        await empty_all_tables(app.state.container.engine)


async def eventually(check: Callable[[], Awaitable[Any]], what: str, wait: float = 20.0) -> Any:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    pytest.fail(f"not within {wait}s: {what}")


async def test_the_runner_delivers_a_signed_order_paid_after_two_failures(
    running: FastAPI, receiver: Process
) -> None:
    container: Container = running.state.container
    admin = await make_account(container, "root@example.com", role=Role.ADMIN)
    buyer = await make_account(container, "buyer@example.com")
    path = f"/hook-{time.monotonic_ns()}"
    transport = httpx.ASGITransport(app=running)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        httpx.AsyncClient(base_url=receiver.base, timeout=5) as peer,
    ):
        created = (
            await http.post(
                ENDPOINTS,
                json=new_endpoint(url=receiver.base + path, event_types=["order.paid"]),
                headers=admin.headers,
            )
        ).json()
        control = {"path": path, "secrets": [created["secret"]], "fail_first": 2}
        (await peer.post("/_control", json=control)).raise_for_status()
        item = await add_item(container, "HOOK-2", stock=3)
        order = {
            "lines": [{"item_id": str(item.id), "quantity": 1}],
            "payment_method": "pm_card_visa",
        }
        placed = await http.post("/api/v1/orders", json=order, headers=buyer.headers)

        async def stats() -> dict[str, Any]:
            answer = (await peer.get("/_stats", params={"path": path})).json()
            found: dict[str, Any] = answer["paths"].get(path, {})
            return found

        async def verified() -> int:
            return int((await stats()).get("verified", 0))

        assert await eventually(verified, "a verified order.paid") == 1
        entries = (await stats())["received"]
        assert [e["status"] for e in entries] == [500, 500, 200]
        assert len({e["headers"]["webhook-id"] for e in entries}) == 1
        payload = Webhook(created["secret"]).verify(
            entries[-1]["body"].encode(), entries[-1]["headers"]
        )
        assert payload["type"] == "order.paid"
        assert payload["data"]["order_id"] == placed.json()["id"]

        async def recorded() -> bool:  # the receiver answers before the runner commits
            listed = f"{ENDPOINTS}/{created['id']}/deliveries"
            items = (await http.get(listed, headers=admin.headers)).json()["items"]
            return [(d["status"], d["attempts"]) for d in items] == [("delivered", 3)]

        assert await eventually(recorded, "one delivery, recorded delivered after 3 attempts")
