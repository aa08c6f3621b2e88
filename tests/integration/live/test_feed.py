"""The all-orders SSE stream, on SQLite and PostgreSQL: a customer sees only their orders, an
admin every order (filtered by status), Last-Event-ID resumes the feed after its position."""

from __future__ import annotations

import httpx

from orderly.container import Container
from orderly.models import Item
from tests.conftest import Account, assert_problem
from tests.integration.live.test_ws import expired_token
from tests.integration.test_orders import ORDERS, lines, place
from tests.live_client import SseReader, step

FEED = f"{ORDERS}/events"


async def pay(http: httpx.AsyncClient, account: Account, order_id: str) -> None:
    paid = await http.post(
        f"{ORDERS}/{order_id}/pay", json={"payment_method": "pm_card_visa"}, headers=account.headers
    )
    assert paid.status_code == 200, paid.text


async def test_a_customer_sees_their_orders_only_and_resumes_after_the_last_id(
    http: httpx.AsyncClient, carol: Account, dave: Account, lamp: Item
) -> None:
    first = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    await place(http, dave, lines((lamp, 1)))
    async with http.stream("GET", FEED, headers=carol.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        events = SseReader(response)
        assert (await events.next()).retry == 1500
        snapshot = await events.next_named()
        assert snapshot.event == "snapshot"
        listed = snapshot.json()
        assert (listed["total"], [o["order_id"] for o in listed["orders"]]) == (1, [first])
        assert listed["orders"][0]["status"] == "pending_payment"
        second = (await place(http, carol, lines((lamp, 2)))).json()["id"]
        placed = await events.next_named()
        assert (placed.json()["order_id"], step(placed.json())[:2]) == (second, (1, "order.placed"))
        await place(http, dave, lines((lamp, 1)))  # not carol's: never on her feed
        await pay(http, carol, first)
        paid = await events.next_named()
        assert (paid.json()["order_id"], step(paid.json())) == (
            first,
            (2, "order.paid", "pending_payment", "paid"),
        )
        ids = [snapshot.id, placed.id, paid.id]
        assert [len((i or "").split(".")) for i in ids] == [3, 3, 3]
        assert ids == sorted(ids, key=lambda i: int((i or "").split(".")[0]))
        resume_at = placed.id or ""
    await pay(http, carol, second)  # while away
    headers = {**carol.headers, "Last-Event-ID": resume_at}
    async with http.stream("GET", FEED, headers=headers) as response:
        events = SseReader(response)
        snapshot = await events.next_named()
        statuses = {o["order_id"]: o["status"] for o in snapshot.json()["orders"]}
        assert statuses == {first: "paid", second: "paid"}
        missed = [await events.next_named(), await events.next_named()]
        assert [(e.json()["order_id"], e.json()["sequence"]) for e in missed] == [
            (first, 2),
            (second, 2),
        ]
        assert (await events.next(wait=2)).comments == ["ping"]  # nothing more


async def test_an_admin_watches_every_order_moving_to_one_status(
    http: httpx.AsyncClient, ada: Account, carol: Account, dave: Account, lamp: Item
) -> None:
    already = (await place(http, dave, lines((lamp, 1)))).json()["id"]
    await pay(http, dave, already)
    async with http.stream("GET", f"{FEED}?status=paid", headers=ada.headers) as response:
        events = SseReader(response)
        snapshot = (await events.next_named()).json()
        assert [o["order_id"] for o in snapshot["orders"]] == [already]
        order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
        await pay(http, carol, order_id)
        paid = (await events.next_named()).json()
        assert (paid["order_id"], paid["to_status"]) == (order_id, "paid")  # placed skipped


async def test_bad_filters_positions_and_foreign_feeds_are_problems(
    http: httpx.AsyncClient, live: Container, carol: Account, dave: Account
) -> None:
    assert_problem(await http.get(FEED), 401)
    expired = {"Authorization": f"Bearer {expired_token(carol)}"}
    assert "expired" in assert_problem(await http.get(FEED, headers=expired), 401)["detail"]
    assert_problem(await http.get(f"{FEED}?status=lost", headers=carol.headers), 422, "status")
    for bad in ("abc", "1.2", "12.zz.3", "1." + "0" * 32 + ".-1"):
        answer = await http.get(FEED, headers={**carol.headers, "Last-Event-ID": bad})
        assert_problem(answer, 422, "Last-Event-ID")
    foreign = await http.get(f"{FEED}?user_id={dave.user.id}", headers=carol.headers)
    assert_problem(foreign, 403)
    assert foreign.json()["code"] == "feed-forbidden"
    assert len(live.live) == 0
