"""The order timeline through the API: what happened, when, and who did it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from orderly.container import Container
from orderly.models import Item, Order, TimelineEntry
from tests.conftest import Account, assert_problem, make_account
from tests.integration.test_items import add_item
from tests.integration.test_orders import ORDERS, lines, place, run_jobs


@pytest.fixture
async def lamp(container: Container) -> Item:
    return await add_item(container, "LAMP-T", name="Lamp", price_minor=2500, stock=10)


def steps(timeline: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["sequence"], e["type"], e["from_status"], e["to_status"], e["actor"]["kind"])
        for e in timeline
    ]


async def timeline_of(client: httpx.AsyncClient, order_id: str, who: Account) -> Any:
    response = await client.get(f"{ORDERS}/{order_id}/timeline", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def paid_order(client: httpx.AsyncClient, customer: Account, lamp: Item) -> str:
    body = {**lines((lamp, 2)), "payment_method": "pm_card_visa"}
    order_id: str = (await place(client, customer, body)).json()["id"]
    paid = await client.post(f"{ORDERS}/{order_id}/pay", headers=customer.headers)
    assert paid.json()["status"] == "paid", paid.text
    return order_id


async def test_placed_paid_fulfilled_with_their_actors(
    client: httpx.AsyncClient, customer: Account, admin: Account, lamp: Item
) -> None:
    order_id = await paid_order(client, customer, lamp)
    fulfilled = await client.post(f"{ORDERS}/{order_id}/fulfil", headers=admin.headers)
    assert fulfilled.status_code == 200, fulfilled.text
    timeline = await timeline_of(client, order_id, customer)
    assert steps(timeline) == [
        (1, "order.placed", None, "pending_payment", "customer"),
        (2, "order.paid", "pending_payment", "paid", "customer"),
        (3, "order.fulfilled", "paid", "fulfilled", "admin"),
    ]
    assert timeline[0]["actor"]["id"] == str(customer.user.id)
    assert timeline[2]["actor"]["id"] == str(admin.user.id)
    assert timeline[1]["data"]["payment_reference"].startswith("pi_")
    times = [entry["occurred_at"] for entry in timeline]
    assert times == sorted(times)


async def test_cancelling_a_paid_order_shows_the_request_and_the_refund(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    order_id = await paid_order(client, customer, lamp)
    await client.post(
        f"{ORDERS}/{order_id}/cancel", json={"reason": "found it cheaper"}, headers=customer.headers
    )
    await run_jobs(container)
    timeline = await timeline_of(client, order_id, customer)
    assert steps(timeline) == [
        (1, "order.placed", None, "pending_payment", "customer"),
        (2, "order.paid", "pending_payment", "paid", "customer"),
        (3, "order.refund_requested", "paid", "cancelling", "customer"),
        (4, "order.cancelled", "cancelling", "cancelled", "worker"),
    ]
    assert timeline[2]["reason"] == "found it cheaper"
    assert timeline[2]["data"] == {"amount_minor": 5000, "currency": "EUR"}
    assert timeline[3]["data"]["refunded"] is True
    assert timeline[3]["data"]["refund_reference"].startswith("re_")


async def test_only_the_owner_and_admins_read_a_timeline(
    client: httpx.AsyncClient,
    container: Container,
    customer: Account,
    admin: Account,
    lamp: Item,
) -> None:
    order_id = (await place(client, customer, lines((lamp, 1)))).json()["id"]
    stranger = await make_account(container, "mallory@example.com")
    response = await client.get(f"{ORDERS}/{order_id}/timeline", headers=stranger.headers)
    assert_problem(response, 404)
    assert len(await timeline_of(client, order_id, admin)) == 1
    assert_problem(await client.get(f"{ORDERS}/{order_id}/timeline"), 401)


async def test_admins_add_notes_and_nobody_else_does(
    client: httpx.AsyncClient, container: Container, customer: Account, admin: Account, lamp: Item
) -> None:
    order_id = (await place(client, customer, lines((lamp, 1)))).json()["id"]
    url = f"{ORDERS}/{order_id}/timeline"
    added = await client.post(
        url, json={"note": "Called: leave at the door"}, headers=admin.headers
    )
    assert added.status_code == 201, added.text
    note = added.json()
    assert (note["sequence"], note["type"], note["to_status"]) == (
        2,
        "order.note_added",
        "pending_payment",
    )
    assert note["data"] == {"note": "Called: leave at the door"}
    assert note["actor"] == {"kind": "admin", "id": str(admin.user.id)}

    assert_problem(await client.post(url, json={"note": "mine"}, headers=customer.headers), 403)
    for bad in (
        {"note": ""},
        {"note": "x\u0000y"},
        {"note": "n" * 2001},
        {},
        {"note": "ok", "x": 1},
    ):
        assert_problem(await client.post(url, json=bad, headers=admin.headers), 422)
    missing = f"{ORDERS}/00000000-0000-4000-8000-000000000000/timeline"
    assert_problem(await client.post(missing, json={"note": "x"}, headers=admin.headers), 404)
    assert len(await timeline_of(client, order_id, customer)) == 2  # nothing else written


async def test_v2_orders_embed_their_timeline(
    client: httpx.AsyncClient, customer: Account, lamp: Item
) -> None:
    body = {**lines((lamp, 1)), "payment_method": "pm_card_visa"}
    placed = await client.post("/api/v2/orders", json=body, headers=customer.headers)
    assert placed.status_code == 201, placed.text
    assert [e["type"] for e in placed.json()["timeline"]] == ["order.placed"]
    order_id = placed.json()["id"]
    await client.post(f"{ORDERS}/{order_id}/pay", headers=customer.headers)
    one = (await client.get(f"/api/v2/orders/{order_id}", headers=customer.headers)).json()
    page = (await client.get("/api/v2/orders", headers=customer.headers)).json()
    assert [e["type"] for e in one["timeline"]] == ["order.placed", "order.paid"]
    assert page["items"][0]["timeline"] == one["timeline"]


async def test_concurrent_changes_leave_no_gap_and_no_duplicate(
    client: httpx.AsyncClient, container: Container, customer: Account, admin: Account, lamp: Item
) -> None:
    order_id = await paid_order(client, customer, lamp)
    url = f"{ORDERS}/{order_id}/timeline"

    async def note(n: int) -> int:
        response = await client.post(url, json={"note": f"note {n}"}, headers=admin.headers)
        return response.status_code

    async def fulfil() -> int:
        response = await client.post(f"{ORDERS}/{order_id}/fulfil", headers=admin.headers)
        return response.status_code

    codes = await asyncio.gather(fulfil(), *(note(n) for n in range(12)))
    assert codes == [200] + [201] * 12
    sequences = [entry["sequence"] for entry in await timeline_of(client, order_id, customer)]
    assert sequences == list(range(1, 16))
    mine = TimelineEntry.order_id == uuid.UUID(order_id)
    async with container.session_factory() as session:
        count = await session.scalar(select(func.count()).where(mine))
        position = await session.scalar(
            select(Order.timeline_position).where(Order.id == uuid.UUID(order_id))
        )
    assert (count, position) == (15, 15)
