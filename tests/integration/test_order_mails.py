"""Customers hear of every change to their orders: the in-process runner sends one mail per
event (Message-ID = the event id), text and HTML, read back here as a mail client would."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from orderly.container import Container
from orderly.events.types import event_from_payload
from orderly.models import OutboxMessage, Role
from tests.conftest import Account, make_account
from tests.integration.test_items import add_item
from tests.integration.test_jobs_embedded import eventually, mails

ORDERS = "/api/v1/orders"


async def order(
    http: httpx.AsyncClient, container: Container, buyer: Account, method: str | None
) -> str:
    item = await add_item(container, f"M-{method}", name="Kettle", price_minor=1500, stock=5)
    body: dict[str, Any] = {"lines": [{"item_id": str(item.id), "quantity": 2}]}
    if method:
        body["payment_method"] = method
    placed = await http.post(ORDERS, json=body, headers=buyer.headers)
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["id"]
    return order_id


async def reaches(http: httpx.AsyncClient, buyer: Account, order_id: str, wanted: str) -> None:
    async def there() -> bool:
        current = await http.get(f"{ORDERS}/{order_id}", headers=buyer.headers)
        return bool(current.json()["status"] == wanted)

    await eventually(there, f"order {wanted}")


async def mail_about(mail_dir: Path, subject: str) -> EmailMessage:
    found = await eventually(
        lambda: [m for m in mails(mail_dir) if subject in str(m["Subject"])], f"a mail '{subject}'"
    )
    assert len(found) == 1, [m["Subject"] for m in found]  # one mail per event
    message: EmailMessage = found[0]
    return message


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


async def event_id(container: Container, event_type: str, order_id: str) -> str:
    async with container.session_factory() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.event_type == event_type)
        )
        [row] = [r for r in rows if r.payload["order_id"] == order_id]
    return str(row.id)


async def test_a_cancelled_paid_order_is_mailed_with_its_refund(
    http: httpx.AsyncClient, running: FastAPI, mail_dir: Path
) -> None:
    container: Container = running.state.container
    buyer = await make_account(container, "cat@example.com")
    order_id = await order(http, container, buyer, "pm_card_visa")
    await reaches(http, buyer, order_id, "paid")
    await http.post(
        f"{ORDERS}/{order_id}/cancel", json={"reason": "changed my mind"}, headers=buyer.headers
    )
    await reaches(http, buyer, order_id, "cancelled")
    message = await mail_about(mail_dir, f"Order {order_id} is cancelled")
    assert message["To"] == "cat@example.com"
    text = plain_text(message)
    assert "(changed my mind)" in text
    assert "30.00 EUR you paid have been refunded" in text
    assert message.get_body(("html",)) is not None
    assert (
        message["Message-ID"]
        == f"<{await event_id(container, 'OrderCancelled', order_id)}@orderly>"
    )


async def test_shipping_and_expiry_are_mailed(
    http: httpx.AsyncClient, running: FastAPI, mail_dir: Path
) -> None:
    container: Container = running.state.container
    buyer = await make_account(container, "dan@example.com")
    admin = await make_account(container, "boss@example.com", role=Role.ADMIN)
    shipped = await order(http, container, buyer, "pm_card_visa")
    await reaches(http, buyer, shipped, "paid")
    fulfilled = await http.post(f"{ORDERS}/{shipped}/fulfil", headers=admin.headers)
    assert fulfilled.status_code == 200, fulfilled.text
    message = await mail_about(mail_dir, f"Order {shipped} is on its way")
    assert "has shipped" in plain_text(message)

    unpaid = await order(http, container, buyer, None)
    assert await container.orders.expire_unpaid(older_than=timedelta(seconds=0)) == 1
    message = await mail_about(mail_dir, f"Order {unpaid} expired unpaid")
    text = plain_text(message)
    assert "30.00 EUR" in text
    assert "Nothing was charged" in text


async def test_a_redelivered_event_mails_once(
    running: FastAPI, http: httpx.AsyncClient, mail_dir: Path
) -> None:
    container: Container = running.state.container
    buyer = await make_account(container, "eve@example.com")
    unpaid = await order(http, container, buyer, None)
    await http.post(f"{ORDERS}/{unpaid}/cancel", headers=buyer.headers)
    await mail_about(mail_dir, f"Order {unpaid} is cancelled")
    async with container.session_factory() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.event_type == "OrderCancelled")
        )
        [row] = [r for r in rows if r.payload["order_id"] == unpaid]
    await container.dispatcher.dispatch(event_from_payload(row.event_type, row.payload))
    assert len([m for m in mails(mail_dir) if unpaid in str(m["Subject"])]) == 1
