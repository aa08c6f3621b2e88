"""Placing, reading, paying, cancelling and fulfilling orders through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from orderly.container import Container
from orderly.events.relay import OutboxRelay
from orderly.events.types import event_from_payload
from orderly.fakes.payment_provider import ProviderState
from orderly.models import Item, OutboxMessage, Role
from tests.conftest import Account, assert_problem, make_account
from tests.integration.test_items import add_item

ORDERS = "/api/v1/orders"


@pytest.fixture
async def lamp(container: Container) -> Item:
    return await add_item(container, "LAMP-1", name="Lamp", price_minor=2500, stock=10)


@pytest.fixture
async def mug(container: Container) -> Item:
    return await add_item(container, "MUG-1", name="Mug", price_minor=900, stock=3)


def sandbox(container: Container) -> ProviderState:
    """The in-process sandbox provider's books (no provider URL is configured in tests)."""
    transport = container.payment_provider._http._transport
    assert isinstance(transport, httpx.ASGITransport)
    assert isinstance(transport.app, Starlette)
    state = transport.app.state.provider
    assert isinstance(state, ProviderState)
    return state


async def stock(container: Container, *items: Item) -> list[int]:
    async with container.uow() as uow:
        found = {i.id: i.stock for i in await uow.items.get_many([i.id for i in items])}
    return [found[i.id] for i in items]


async def order_count(container: Container) -> int:
    async with container.uow() as uow:
        return (await uow.orders.page(limit=1, offset=0))[1]


def lines(*pairs: tuple[Item | uuid.UUID | str, Any]) -> dict[str, Any]:
    return {
        "lines": [
            {"item_id": str(i.id if isinstance(i, Item) else i), "quantity": q} for i, q in pairs
        ]
    }


async def place(
    client: httpx.AsyncClient, account: Account, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(ORDERS, json=body, headers=headers)


async def test_place_reserves_stock_and_computes_the_total(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item, mug: Item
) -> None:
    response = await place(client, customer, lines((lamp, 2), (mug, 3)))
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending_payment"
    assert order["total_minor"] == 2 * 2500 + 3 * 900
    assert order["currency"] == "EUR"
    assert [line["unit_price_minor"] for line in order["lines"]] == [2500, 900]
    assert response.headers["location"] == f"{ORDERS}/{order['id']}"
    assert await stock(container, lamp, mug) == [8, 0]


@pytest.mark.parametrize(
    ("make_body", "status", "field"),
    [
        (lambda lamp, mug: {"lines": []}, 422, "lines"),
        (lambda lamp, mug: {}, 422, "lines"),
        (lambda lamp, mug: lines((lamp, 1), (lamp, 2)), 422, "lines.1.item_id"),
        (lambda lamp, mug: lines((lamp, 0)), 422, "lines.0.quantity"),
        (lambda lamp, mug: lines((lamp, -1)), 422, "lines.0.quantity"),
        (lambda lamp, mug: lines((lamp, 101)), 422, "lines.0.quantity"),
        (lambda lamp, mug: lines((lamp, "2")), 422, "lines.0.quantity"),
        (lambda lamp, mug: lines((lamp, 1), (uuid.uuid4(), 1)), 422, "lines.1.item_id"),
        (lambda lamp, mug: lines((lamp, 1), ("not-a-uuid", 1)), 422, "lines.1.item_id"),
        (lambda lamp, mug: lines((lamp, 1), (mug, 4)), 409, "lines.1.quantity"),
        (lambda lamp, mug: {**lines((lamp, 1)), "total_minor": 1}, 422, "total_minor"),
        (lambda lamp, mug: {**lines((lamp, 1)), "payment_method": "x y"}, 422, "payment_method"),
    ],
)
async def test_bad_orders_name_the_line_and_reserve_nothing(
    client: httpx.AsyncClient,
    container: Container,
    customer: Account,
    lamp: Item,
    mug: Item,
    make_body: Any,
    status: int,
    field: str,
) -> None:
    response = await place(client, customer, make_body(lamp, mug))
    assert_problem(response, status, field)
    assert await stock(container, lamp, mug) == [10, 3]
    assert await order_count(container) == 0


async def test_inactive_items_and_mixed_currencies_are_refused(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item, mug: Item
) -> None:
    await container.catalog.delete_item(item_id=mug.id)
    assert_problem(
        await place(client, customer, lines((lamp, 1), (mug, 1))), 422, "lines.1.item_id"
    )
    dollar = await add_item(container, "USD-1", currency="USD", stock=5)
    assert_problem(await place(client, customer, lines((lamp, 1), (dollar, 1))), 422, "lines")
    assert await stock(container, lamp, dollar) == [10, 5]
    assert await order_count(container) == 0


async def test_an_idempotency_key_replays_the_first_order(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    first = await place(client, customer, lines((lamp, 2)), key="checkout-1")
    again = await place(client, customer, lines((lamp, 2)), key="checkout-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    different = await place(client, customer, lines((lamp, 3)), key="checkout-1")
    body = assert_problem(different, 422)
    assert "Idempotency-Key" in body["detail"]
    assert await stock(container, lamp) == [8]
    assert await order_count(container) == 1
    # keys belong to one user: another user's identical key is a new order
    other = await make_account(container, "dave@example.com")
    assert (await place(client, other, lines((lamp, 2)), key="checkout-1")).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there"])
async def test_malformed_idempotency_keys(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item, key: str
) -> None:
    assert_problem(await place(client, customer, lines((lamp, 1)), key=key), 422)
    assert await order_count(container) == 0


async def test_listing_and_reading_respect_ownership(
    client: httpx.AsyncClient, container: Container, customer: Account, admin: Account, lamp: Item
) -> None:
    other = await make_account(container, "dave@example.com")
    mine = [(await place(client, customer, lines((lamp, 1)))).json()["id"] for _ in range(3)]
    theirs = (await place(client, other, lines((lamp, 1)))).json()["id"]
    await client.post(f"{ORDERS}/{mine[0]}/cancel", headers=customer.headers)

    page = (await client.get(ORDERS, params={"limit": 2}, headers=customer.headers)).json()
    assert page["total"] == 3
    assert [o["id"] for o in page["items"]] == [mine[2], mine[1]]  # newest first
    cancelled = await client.get(ORDERS, params={"status": "cancelled"}, headers=customer.headers)
    assert [o["id"] for o in cancelled.json()["items"]] == [mine[0]]
    # a customer's user_id filter cannot reach other people's orders
    sneaky = await client.get(
        ORDERS, params={"user_id": str(other.user.id)}, headers=customer.headers
    )
    assert theirs not in {o["id"] for o in sneaky.json()["items"]}

    assert_problem(await client.get(f"{ORDERS}/{theirs}", headers=customer.headers), 404)
    assert (await client.get(f"{ORDERS}/{theirs}", headers=other.headers)).status_code == 200
    everyone = await client.get(ORDERS, params={"limit": 100}, headers=admin.headers)
    assert everyone.json()["total"] == 4
    just_dave = await client.get(
        ORDERS, params={"user_id": str(other.user.id)}, headers=admin.headers
    )
    assert [o["id"] for o in just_dave.json()["items"]] == [theirs]
    assert (await client.get(f"{ORDERS}/{theirs}", headers=admin.headers)).status_code == 200
    assert_problem(await client.get(f"{ORDERS}/{uuid.uuid4()}", headers=admin.headers), 404)
    assert_problem(await client.get(f"{ORDERS}/nope", headers=admin.headers), 422, "order_id")
    assert_problem(await client.get(ORDERS, params={"status": "lost"}, headers=admin.headers), 422)
    assert_problem(await client.get(ORDERS), 401)


async def test_pay_then_fulfil(
    client: httpx.AsyncClient, container: Container, customer: Account, admin: Account, lamp: Item
) -> None:
    order = (await place(client, customer, lines((lamp, 2)))).json()
    url = f"{ORDERS}/{order['id']}"
    assert_problem(await client.post(f"{url}/pay", headers=customer.headers), 422, "payment_method")
    paid = await client.post(
        f"{url}/pay", json={"payment_method": "pm_card_visa"}, headers=customer.headers
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    again = await client.post(f"{url}/pay", headers=customer.headers)
    assert again.json()["status"] == "paid"  # idempotent
    assert list(sandbox(container).charges.values()) == [1]

    assert_problem(await client.post(f"{url}/fulfil", headers=customer.headers), 403)
    fulfilled = await client.post(f"{url}/fulfil", headers=admin.headers)
    assert fulfilled.json()["status"] == "fulfilled"
    assert_problem(await client.post(f"{url}/fulfil", headers=admin.headers), 409)
    assert_problem(await client.post(f"{url}/cancel", headers=customer.headers), 409)
    assert await stock(container, lamp) == [8]


async def test_a_declined_payment_fails_the_order_and_releases_stock(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    body = {**lines((lamp, 4)), "payment_method": "pm_card_chargeDeclined"}
    order = (await place(client, customer, body)).json()
    assert await stock(container, lamp) == [6]
    response = await client.post(f"{ORDERS}/{order['id']}/pay", headers=customer.headers)
    assert response.json()["status"] == "payment_failed"
    assert await stock(container, lamp) == [10]
    assert_problem(await client.post(f"{ORDERS}/{order['id']}/pay", headers=customer.headers), 409)


async def run_jobs(container: Container) -> int:
    """What the job runner does: one relay pass handing pending events to their handlers."""

    async def handle(message: OutboxMessage) -> None:
        await container.dispatcher.dispatch(event_from_payload(message.event_type, message.payload))

    relay = OutboxRelay(container.session_factory, handle, in_process=True)
    return await relay.relay_once()


async def test_cancel_pending_releases_and_cancel_paid_refunds(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    pending = (await place(client, customer, lines((lamp, 3)))).json()
    cancelled = await client.post(f"{ORDERS}/{pending['id']}/cancel", headers=customer.headers)
    assert cancelled.json()["status"] == "cancelled"
    assert await stock(container, lamp) == [10]
    assert_problem(
        await client.post(f"{ORDERS}/{pending['id']}/cancel", headers=customer.headers), 409
    )

    body = {**lines((lamp, 2)), "payment_method": "pm_card_visa"}
    paid = (await place(client, customer, body)).json()
    await client.post(f"{ORDERS}/{paid['id']}/pay", headers=customer.headers)
    cancelling = await client.post(
        f"{ORDERS}/{paid['id']}/cancel", json={"reason": "ordered twice"}, headers=customer.headers
    )
    assert cancelling.status_code == 200, cancelling.text
    assert cancelling.json()["status"] == "cancelling"
    assert sum(sandbox(container).refunds.values()) == 0  # the worker refunds, not the request
    assert await stock(container, lamp) == [8]
    assert_problem(
        await client.post(f"{ORDERS}/{paid['id']}/cancel", headers=customer.headers), 409
    )

    await run_jobs(container)
    current = await client.get(f"{ORDERS}/{paid['id']}", headers=customer.headers)
    assert current.json()["status"] == "cancelled"
    assert await stock(container, lamp) == [10]
    assert sum(sandbox(container).refunds.values()) == 1
    async with container.uow(read_only=True) as uow:
        payment = await uow.payments.for_order(uuid.UUID(paid["id"]))
    assert payment is not None
    assert (payment.status.value, payment.refund_reference is not None) == ("refunded", True)
    async with container.session_factory() as session:
        events = list(
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.event_type.in_(["OrderRefundRequested", "OrderCancelled"])
                )
            )
        )
    by_type = {
        event.event_type: event.payload
        for event in events
        if event.payload["order_id"] == paid["id"]
    }
    assert by_type["OrderRefundRequested"]["reason"] == "ordered twice"
    assert by_type["OrderRefundRequested"]["actor"] == {
        "kind": "customer",
        "id": str(customer.user.id),
    }
    assert by_type["OrderCancelled"]["refunded"] is True
    assert by_type["OrderCancelled"]["actor"]["kind"] == "worker"


async def test_strangers_cannot_pay_or_cancel(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    order = (await place(client, customer, lines((lamp, 1)))).json()
    stranger = await make_account(container, "eve@example.com")
    for action in ("pay", "cancel"):
        assert_problem(
            await client.post(f"{ORDERS}/{order['id']}/{action}", headers=stranger.headers), 404
        )
    admin = await make_account(container, "root@example.com", role=Role.ADMIN)
    cancelled = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=admin.headers)
    assert cancelled.json()["status"] == "cancelled"


async def test_provider_down_leaves_the_order_pending_with_503(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    order = (
        await place(client, customer, {**lines((lamp, 1)), "payment_method": "pm_card_visa"})
    ).json()
    sandbox(container).down = True
    response = await client.post(f"{ORDERS}/{order['id']}/pay", headers=customer.headers)
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    current = await client.get(f"{ORDERS}/{order['id']}", headers=customer.headers)
    assert current.json()["status"] == "pending_payment"
    sandbox(container).down = False
    container.payment_provider.breaker.record_success()  # the cool-down is tested in e2e
    paid = await client.post(f"{ORDERS}/{order['id']}/pay", headers=customer.headers)
    assert paid.json()["status"] == "paid"
