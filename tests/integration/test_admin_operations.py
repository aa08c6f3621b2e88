"""The panel's operations views over HTTP (SQLite and PostgreSQL): outbox retry and replay,
sales reports (request, download), webhook replay and order cancellation, each through its
service and recorded with the admin's id."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import httpx
from sqlalchemy import select

from orderly.container import Container
from orderly.events.types import UserRegistered
from orderly.models import AdminAudit, OutboxMessage, SalesReport, WebhookDelivery
from orderly.models.webhook import DeliveryStatus
from orderly.services.orders import NewLine
from tests.conftest import Account
from tests.integration.test_admin_panel import ORIGIN, sign_in

T = TypeVar("T")


async def one_row(container: Container, model: type[T]) -> T:
    async with container.session_factory() as session:
        return (await session.scalars(select(model))).one()


async def actions(container: Container) -> list[tuple[str, uuid.UUID]]:
    async with container.session_factory() as session:
        rows = await session.scalars(select(AdminAudit).order_by(AdminAudit.occurred_at))
        return [(row.action, row.admin_id) for row in rows]


async def test_an_outbox_message_is_listed_and_made_due_now(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    async with container.session_factory() as session:  # the admin's UserRegistered waits
        message = (await session.scalars(select(OutboxMessage))).one()
        message.available_at = datetime.now(UTC) + timedelta(hours=1)  # as after a failure
        message.attempts, message.last_error = 3, "broker down"
        await session.commit()
    await sign_in(client, admin)
    listing = await client.get("/admin/outbox-message/list")
    assert "broker down" in listing.text
    before = datetime.now(UTC)
    retried = await client.post(f"/admin/outbox-message/act/{message.id}/retry", headers=ORIGIN)
    assert retried.status_code == 303
    assert (await one_row(container, OutboxMessage)).available_at <= datetime.now(UTC)
    assert (await one_row(container, OutboxMessage)).available_at >= before
    assert await actions(container) == [("outbox.retry", admin.user.id)]
    unknown = await client.post(f"/admin/outbox-message/act/{uuid.uuid4()}/retry", headers=ORIGIN)
    page = await client.get(unknown.headers["location"])
    assert page.status_code == 404  # the message it named does not exist


async def hand_over(
    container: Container, event_id: uuid.UUID, *, deliveries: int, handled: bool = False
) -> None:
    """As the relay leaves a message it handed over ``deliveries`` times (and, ``handled``,
    a worker acknowledged)."""
    earlier = datetime.now(UTC) - timedelta(hours=1)
    async with container.session_factory() as session:
        message = await session.get_one(OutboxMessage, event_id)
        message.published_at, message.deliveries = earlier, deliveries
        message.available_at = earlier + timedelta(seconds=container.settings.outbox_ack_timeout)
        message.handled_at = earlier if handled else None
        await session.commit()


def state_cell(page: str, state: str) -> bool:
    return re.search(rf"<td>\s*{re.escape(state)}\s*</td>", page) is not None


async def test_an_abandoned_outbox_message_is_listed_and_replayed(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    message = await one_row(container, OutboxMessage)  # the admin's UserRegistered
    await hand_over(container, message.id, deliveries=container.settings.outbox_max_deliveries)
    await sign_in(client, admin)
    listing = await client.get("/admin/outbox-message/list")
    assert str(message.id) in listing.text
    assert state_cell(listing.text, "abandoned")
    details = await client.get(f"/admin/outbox-message/details/{message.id}")
    assert 'id="action-replay"' in details.text
    assert 'id="action-retry"' not in details.text
    before = datetime.now(UTC)
    replayed = await client.post(f"/admin/outbox-message/act/{message.id}/replay", headers=ORIGIN)
    assert replayed.status_code == 303
    assert "Pending again" in (await client.get(replayed.headers["location"])).text
    again = await one_row(container, OutboxMessage)
    assert (again.published_at, again.handled_at, again.deliveries) == (None, None, 0)
    assert before <= again.available_at <= datetime.now(UTC)  # due at once
    assert await actions(container) == [("outbox.replay", admin.user.id)]
    listing = await client.get("/admin/outbox-message/list")
    assert state_cell(listing.text, "pending")
    assert not state_cell(listing.text, "abandoned")


async def test_handled_outbox_messages_are_not_listed_nor_in_flight_ones_replayed(
    client: httpx.AsyncClient, admin: Account, customer: Account, container: Container
) -> None:
    async with container.session_factory() as session:
        rows = {m.payload["email"]: m.id for m in await session.scalars(select(OutboxMessage))}
    handled, flying = rows[admin.email], rows[customer.email]
    await hand_over(container, handled, deliveries=1, handled=True)
    await hand_over(container, flying, deliveries=container.settings.outbox_max_deliveries - 1)
    await sign_in(client, admin)
    listing = await client.get("/admin/outbox-message/list")
    assert str(flying) in listing.text
    assert str(handled) not in listing.text
    assert state_cell(listing.text, "in flight")
    details = await client.get(f"/admin/outbox-message/details/{flying}")
    assert state_cell(details.text, "in flight")
    assert 'id="action-' not in details.text  # neither retry nor replay
    # A stale page or a crafted POST cannot replay it: that would reset its hand-overs.
    crafted = await client.post(f"/admin/outbox-message/act/{flying}/replay", headers=ORIGIN)
    assert "in flight, not abandoned" in (await client.get(crafted.headers["location"])).text
    async with container.session_factory() as session:
        still = await session.get_one(OutboxMessage, flying)
    assert still.deliveries == container.settings.outbox_max_deliveries - 1
    assert await actions(container) == []


async def test_a_sales_report_is_requested_and_downloaded(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    await sign_in(client, admin)
    today = date.today().isoformat()
    backwards = await client.post(
        "/admin/sales-report/create",
        data={"date_from": today, "date_to": "2020-01-01", "save": "Save"},
        headers=ORIGIN,
    )
    assert backwards.status_code == 400
    assert "must not be after" in backwards.text
    requested = await client.post(
        "/admin/sales-report/create",
        data={"date_from": today, "date_to": today, "save": "Save"},
        headers=ORIGIN,
    )
    assert requested.status_code == 302, requested.text
    report = await one_row(container, SalesReport)
    assert report.requested_by == admin.user.id
    early = await client.get(f"/admin/sales-report/download/{report.id}", follow_redirects=True)
    assert "not ready" in early.text
    await container.reports.produce(report_id=report.id)
    csv = await client.get(f"/admin/sales-report/download/{report.id}")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert await actions(container) == [("report.request", admin.user.id)]


async def test_a_webhook_delivery_is_replayed(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    endpoint = await container.webhooks.register(
        url="http://127.0.0.1:9/hook", description="", event_types=["user.registered"]
    )
    event = UserRegistered(user_id=admin.user.id, email=admin.email, full_name="Ada")
    assert await container.webhooks.fan_out(event) == 1
    async with container.session_factory() as session:
        delivery = (await session.scalars(select(WebhookDelivery))).one()
        delivery.status, delivery.failures = DeliveryStatus.FAILED, 9
        await session.commit()
    await sign_in(client, admin)
    page = await client.get(f"/admin/webhook-endpoint/details/{endpoint.endpoint.id}")
    assert endpoint.secret not in page.text
    replayed = await client.post(
        f"/admin/webhook-delivery/act/{delivery.id}/replay", headers=ORIGIN
    )
    assert replayed.status_code == 303
    again = await one_row(container, WebhookDelivery)
    assert (again.status, again.failures) == ("pending", 0)
    assert await actions(container) == [("webhook.replay", admin.user.id)]


async def test_cancelling_an_unpaid_order_from_the_panel_names_the_admin(
    client: httpx.AsyncClient, admin: Account, customer: Account, container: Container
) -> None:
    item = await container.catalog.create_item(
        sku="PANEL-1", name="Panel", price_minor=100, currency="EUR", stock=5
    )
    placed = await container.orders.place(
        customer=customer.user, lines=[NewLine(item_id=item.id, quantity=2)]
    )
    order_id = placed.order.id
    await sign_in(client, admin)
    too_long = await client.post(
        f"/admin/order/act/{order_id}/cancel", data={"reason": "x" * 501}, headers=ORIGIN
    )
    page = await client.get(too_long.headers["location"])
    assert "reason" in page.text
    assert "at most 500 characters" in page.text
    cancelled = await client.post(
        f"/admin/order/act/{order_id}/cancel", data={"reason": "asked by phone"}, headers=ORIGIN
    )
    assert cancelled.status_code == 303
    timeline = await container.orders.timeline(actor=admin.user, order_id=order_id)
    last = timeline[-1]
    assert (last.type, last.actor_id, last.reason) == (
        "order.cancelled",
        admin.user.id,
        "asked by phone",
    )
    assert (await container.catalog.get_item(item_id=item.id)).stock == 5  # released
