"""Live order status over SSE, on SQLite and PostgreSQL: auth errors, snapshot then changes,
Last-Event-ID resume, heartbeats, the per-user limit, the latency histogram left alone."""

from __future__ import annotations

import httpx

from orderly.container import Container
from orderly.models import Item
from tests.conftest import Account, assert_problem, make_account
from tests.integration.test_orders import ORDERS, lines, place
from tests.live_client import SseReader, step


async def test_snapshot_then_changes_as_they_commit(
    http: httpx.AsyncClient, carol: Account, lamp: Item
) -> None:
    order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    url = f"{ORDERS}/{order_id}/events"
    async with http.stream("GET", url, headers=carol.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        events = SseReader(response)
        assert (await events.next()).retry == 1500
        snapshot = await events.next_named()
        assert snapshot.event == "snapshot"
        assert snapshot.id == "1"
        assert snapshot.json()["status"] == "pending_payment"
        paid = await http.post(
            f"{ORDERS}/{order_id}/pay",
            json={"payment_method": "pm_card_visa"},
            headers=carol.headers,
        )
        assert paid.status_code == 200, paid.text
        change = await events.next_named()
        assert (change.event, change.id) == ("change", "2")
        assert step(change.json()) == (2, "order.paid", "pending_payment", "paid")
        assert change.json()["actor_kind"] == "customer"
        assert "user_id" not in change.json()
        ping = await events.next(wait=2)  # idle: a heartbeat comment
        assert ping.comments == ["ping"]


async def test_last_event_id_resumes_with_what_was_missed(
    http: httpx.AsyncClient, ada: Account, carol: Account, lamp: Item
) -> None:
    admin = ada
    body = {**lines((lamp, 1)), "payment_method": "pm_card_visa"}
    order_id = (await place(http, carol, body)).json()["id"]
    await http.post(f"{ORDERS}/{order_id}/pay", headers=carol.headers)
    fulfilled = await http.post(f"{ORDERS}/{order_id}/fulfil", headers=admin.headers)
    assert fulfilled.status_code == 200, fulfilled.text
    headers = {**carol.headers, "Last-Event-ID": "1"}
    async with http.stream("GET", f"{ORDERS}/{order_id}/events", headers=headers) as response:
        events = SseReader(response)
        snapshot = await events.next_named()
        assert (snapshot.event, snapshot.id) == ("snapshot", "3")
        assert snapshot.json()["status"] == "fulfilled"
        missed = [await events.next_named(), await events.next_named()]
        assert [(e.event, e.id) for e in missed] == [("change", "2"), ("change", "3")]
        assert step(missed[1].json()) == (3, "order.fulfilled", "paid", "fulfilled")
    # An admin may watch any order.
    async with http.stream("GET", f"{ORDERS}/{order_id}/events", headers=admin.headers) as r:
        assert r.status_code == 200


async def test_auth_errors_and_limits_are_problems(
    http: httpx.AsyncClient, live: Container, carol: Account, lamp: Item
) -> None:
    order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    url = f"{ORDERS}/{order_id}/events"
    assert_problem(await http.get(url), 401)
    assert_problem(await http.get(url, headers={"Authorization": "Bearer nope"}), 401)
    dave = await make_account(live, "dave@example.com")
    assert_problem(await http.get(url, headers=dave.headers), 404)
    unknown = f"{ORDERS}/00000000-0000-4000-8000-000000000000/events"
    assert_problem(await http.get(unknown, headers=carol.headers), 404)
    bad_resume = {**carol.headers, "Last-Event-ID": "abc"}
    assert_problem(await http.get(url, headers=bad_resume), 422, "Last-Event-ID")
    assert len(live.live) == 0  # nothing stays subscribed after a refusal
    async with (
        http.stream("GET", url, headers=carol.headers) as first,
        http.stream("GET", url, headers=carol.headers) as second,
    ):
        assert (first.status_code, second.status_code) == (200, 200)
        third = await http.get(url, headers=carol.headers)
        assert_problem(third, 429)
        assert third.json()["code"] == "too-many-streams"


async def test_streams_stay_out_of_the_latency_histogram(
    http: httpx.AsyncClient, carol: Account, lamp: Item
) -> None:
    order_id = (await place(http, carol, lines((lamp, 1)))).json()["id"]
    before = await route_samples(http)
    async with http.stream("GET", f"{ORDERS}/{order_id}/events", headers=carol.headers) as r:
        await SseReader(r).next_named()
    await http.get("/health/live")  # lets the finished stream's bookkeeping run
    after = await route_samples(http)
    assert after["orderly_http_request_duration_seconds_count"] == before.get(
        "orderly_http_request_duration_seconds_count", 0.0
    )
    assert after["orderly_http_requests_total"] == before.get("orderly_http_requests_total", 0) + 1
    assert after["orderly_live_messages_sent_total"] > 0


async def route_samples(http: httpx.AsyncClient) -> dict[str, float]:
    """This route's request count and latency-histogram count, and SSE messages sent."""
    route = 'route="/api/v1/orders/{order_id}/events"'
    samples: dict[str, float] = {}
    for line in (await http.get("/metrics")).text.splitlines():
        name = line.partition("{")[0]
        if (
            (route in line and 'status="200"' in line)
            or (route in line and name.endswith("_count"))
            or line.startswith('orderly_live_messages_sent_total{transport="sse"}')
        ):
            samples[name] = samples.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return samples
