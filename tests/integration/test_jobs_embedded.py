"""Events through the outbox and the in-process job runner (the zero-server default)."""

from __future__ import annotations

import asyncio
import email
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from orderly.container import Container
from orderly.core.config import Settings
from orderly.events.types import Actor, OrderPlaced, UserRegistered, event_from_payload
from orderly.main import create_app
from orderly.models import OutboxMessage, Payment, ProcessedEvent, Role
from orderly.services.orders import NewLine
from tests.conftest import Account, assert_problem, make_account
from tests.integration.test_items import add_item
from tests.metrics import sample, scrape

WAIT = 20.0  # seconds any background effect may take here


async def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        result = await check() if asyncio.iscoroutinefunction(check) else check()
        if result:
            return result
        await asyncio.sleep(0.1)
    pytest.fail(f"not within {WAIT}s: {what}")


def mails(folder: Path) -> list[EmailMessage]:
    if not folder.exists():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=default)
        for p in sorted(folder.glob("*.eml"))
    ]


async def outbox(container: Container) -> list[OutboxMessage]:
    async with container.session_factory() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


async def test_an_event_exists_only_if_its_change_committed(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    assert [m.event_type for m in await outbox(container)] == ["UserRegistered"]
    item = await add_item(container, "E-1", stock=1)
    body = {"lines": [{"item_id": str(item.id), "quantity": 5}]}
    refused = await client.post("/api/v1/orders", json=body, headers=customer.headers)
    assert_problem(refused, 409)
    assert [m.event_type for m in await outbox(container)] == ["UserRegistered"]
    body["lines"][0]["quantity"] = 1
    placed = await client.post("/api/v1/orders", json=body, headers=customer.headers)
    rows = await outbox(container)
    assert [m.event_type for m in rows] == ["UserRegistered", "OrderPlaced"]
    event = event_from_payload(rows[1].event_type, rows[1].payload)
    assert isinstance(event, OrderPlaced)
    assert str(event.order_id) == placed.json()["id"]
    assert all(m.published_at is None for m in rows)  # no runner here: they wait


async def test_runner_pays_orders_and_sends_mails(
    http: httpx.AsyncClient, running: FastAPI, mail_dir: Path
) -> None:
    container: Container = running.state.container
    buyer = await make_account(container, "pat@example.com")
    await eventually(lambda: mails(mail_dir), "the welcome mail")
    welcome = mails(mail_dir)[0]
    assert welcome["To"] == "pat@example.com"
    assert "Welcome" in welcome["Subject"]
    assert welcome.is_multipart()  # text and HTML parts

    item = await add_item(container, "JOB-1", name="Teapot", price_minor=1250, stock=5)
    body = {"lines": [{"item_id": str(item.id), "quantity": 2}], "payment_method": "pm_card_visa"}
    order = (await http.post("/api/v1/orders", json=body, headers=buyer.headers)).json()

    async def paid() -> bool:
        current = await http.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers)
        return bool(current.json()["status"] == "paid")

    await eventually(paid, "the order to be paid by the runner")
    confirmation = await eventually(
        lambda: [m for m in mails(mail_dir) if "is paid" in m["Subject"]], "the confirmation"
    )
    text = confirmation[0].get_body(("plain",)).get_content()
    assert "25.00 EUR" in text
    assert "2 x Teapot" in text


async def test_a_declined_payment_is_mailed(
    http: httpx.AsyncClient, running: FastAPI, mail_dir: Path
) -> None:
    container: Container = running.state.container
    buyer = await make_account(container, "dee@example.com")
    item = await add_item(container, "JOB-2", stock=5)
    body = {
        "lines": [{"item_id": str(item.id), "quantity": 1}],
        "payment_method": "pm_card_chargeDeclined",
    }
    await http.post("/api/v1/orders", json=body, headers=buyer.headers)
    await eventually(
        lambda: [m for m in mails(mail_dir) if "failed" in m["Subject"]], "the failure mail"
    )


async def test_pending_events_survive_a_restart(
    settings: Settings, container: Container, mail_dir: Path
) -> None:
    await make_account(container, "kai@example.com")  # runner off: the event waits
    assert [m.published_at for m in await outbox(container)] == [None]
    app = create_app(
        settings.model_copy(
            update={"embedded_jobs": True, "relay_interval": 0.05, "mail_dir": str(mail_dir)}
        )
    )
    async with app.router.lifespan_context(app):
        await eventually(lambda: mails(mail_dir), "the mail after the restart")

        async def drained() -> bool:
            return all(m.published_at is not None for m in await outbox(container))

        await eventually(drained, "the outbox to drain")


async def test_a_redelivered_event_has_one_effect(
    container: Container, settings: Settings, mail_dir: Path
) -> None:
    mailing = Container.build(settings.model_copy(update={"mail_dir": str(mail_dir)}))
    try:
        event = UserRegistered(user_id=uuid.uuid4(), email="x@example.com", full_name="X")
        for _ in range(3):
            await mailing.dispatcher.dispatch(event)
    finally:
        await mailing.close()
    assert len(mails(mail_dir)) == 1
    async with container.session_factory() as session:
        marks = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert marks == 1


async def test_a_redelivered_order_placed_charges_once(
    container: Container, customer: Account
) -> None:
    """Paying is idempotent by the order's state, so it keeps no processed record."""
    item = await add_item(container, "RED-1", stock=5)
    placed = await container.orders.place(
        customer=customer.user,
        lines=[NewLine(item_id=item.id, quantity=1)],
        payment_method="pm_card_visa",
    )
    [written] = [m for m in await outbox(container) if m.event_type == "OrderPlaced"]
    event = event_from_payload(written.event_type, written.payload)
    assert isinstance(event, OrderPlaced)
    assert event.order_id == placed.order.id
    for _ in range(3):
        await container.dispatcher.dispatch(event)
    async with container.session_factory() as session:
        payments = list(await session.scalars(select(Payment)))
        marks = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert [(p.order_id, p.status.value, p.attempts) for p in payments] == [
        (placed.order.id, "succeeded", 1)
    ]
    assert marks == 0
    assert [m.event_type for m in await outbox(container)].count("OrderPaid") == 1


async def test_unpaid_orders_expire_and_release_stock(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    item = await add_item(container, "EXP-1", stock=4)
    body: dict[str, Any] = {"lines": [{"item_id": str(item.id), "quantity": 3}]}
    stale = (await client.post("/api/v1/orders", json=body, headers=customer.headers)).json()
    body["lines"][0]["quantity"] = 1
    body["payment_method"] = "pm_card_visa"
    paid = (await client.post("/api/v1/orders", json=body, headers=customer.headers)).json()
    await client.post(f"/api/v1/orders/{paid['id']}/pay", headers=customer.headers)
    assert await container.orders.expire_unpaid(older_than=timedelta(seconds=0)) == 1
    states = {
        o["id"]: o["status"]
        for o in (await client.get("/api/v1/orders", headers=customer.headers)).json()["items"]
    }
    assert states == {stale["id"]: "expired", paid["id"]: "paid"}
    assert (await client.get(f"/api/v1/items/{item.id}")).json()["stock"] == 3
    assert "OrderExpired" in [m.event_type for m in await outbox(container)]


async def test_sales_report_is_produced_and_downloadable(
    http: httpx.AsyncClient, running: FastAPI, mail_dir: Path
) -> None:
    container: Container = running.state.container
    admin = await make_account(container, "boss@example.com", role=Role.ADMIN)
    buyer = await make_account(container, "sue@example.com")
    item = await add_item(container, "REP-1", price_minor=1000, stock=10)
    for quantity in (1, 2):
        placed = await http.post(
            "/api/v1/orders",
            json={"lines": [{"item_id": str(item.id), "quantity": quantity}]},
            headers=buyer.headers,
        )
        await container.payments.charge(
            order_id=uuid.UUID(placed.json()["id"]),
            actor=Actor.worker(),
            payment_method="pm_card_visa",
        )
    today = time.strftime("%Y-%m-%d", time.gmtime())
    requested = await http.post(
        "/api/v1/reports/sales", json={"from": today, "to": today}, headers=admin.headers
    )
    assert requested.status_code == 202, requested.text
    assert requested.json()["status"] == "queued"
    location = requested.headers["location"]

    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(location, headers=admin.headers)).json()
        return body if body["status"] == "succeeded" else None

    report = await eventually(done, "the report")
    csv_text = (await http.get(report["download_url"], headers=admin.headers)).text
    assert csv_text.splitlines() == [
        "day,currency,orders,items,revenue",
        f"{today},EUR,2,3,30.00",
    ]
    sent = await eventually(
        lambda: [m for m in mails(mail_dir) if "Sales report" in m["Subject"]], "the report mail"
    )
    text = sent[0].get_body(preferencelist=("plain",))
    assert text is not None
    assert f"{container.settings.public_url}{report['download_url']}" in text.get_content()


async def test_report_requests_are_checked(
    client: httpx.AsyncClient, admin: Account, customer: Account
) -> None:
    url = "/api/v1/reports/sales"
    body = {"from": "2026-01-02", "to": "2026-01-01"}
    assert_problem(await client.post(url, json=body, headers=admin.headers), 422, "from")
    long = {"from": "2024-01-01", "to": "2026-01-01"}
    assert_problem(await client.post(url, json=long, headers=admin.headers), 422, "to")
    assert_problem(await client.post(url, json={"from": "x"}, headers=admin.headers), 422)
    ok = {"from": "2026-01-01", "to": "2026-01-31"}
    assert_problem(await client.post(url, json=ok, headers=customer.headers), 403)
    assert_problem(await client.get(f"/api/v1/reports/{uuid.uuid4()}", headers=admin.headers), 404)
    queued = await client.post(url, json=ok, headers=admin.headers)  # no runner: stays queued
    download = f"/api/v1/reports/{queued.json()['id']}/download"
    assert_problem(await client.get(download, headers=admin.headers), 409)


async def test_metrics_report_the_outbox_backlog(
    client: httpx.AsyncClient, container: Container, customer: Account
) -> None:
    item = await add_item(container, "LAG-1", stock=1)
    before = await scrape(client)
    body = {"lines": [{"item_id": str(item.id), "quantity": 1}]}
    assert (await client.post("/api/v1/orders", json=body, headers=customer.headers)).is_success
    waiting = await outbox(container)  # no runner here: nothing is handed on
    asked = datetime.now(UTC)
    after = await scrape(client)
    answered = datetime.now(UTC)
    pending = sample(after, "orderly_outbox_pending")
    assert pending == sample(before, "orderly_outbox_pending") + 1 == len(waiting)
    oldest = min(m.created_at for m in waiting)
    lag = sample(after, "orderly_outbox_lag_seconds")
    assert (asked - oldest).total_seconds() <= lag <= (answered - oldest).total_seconds()
