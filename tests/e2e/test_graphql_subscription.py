"""orderStatus over graphql-transport-ws against a real `orderly serve`: subscribe to an order,
pay it over HTTP, receive the change; a bad token in connection_init is refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.processes import Process, start_orderly

PROTOCOL = Subprotocol("graphql-transport-ws")
WATCH = """subscription Watch($id: ID!) {
  orderStatus(orderId: $id) { orderId sequence type status fromStatus } }"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Process]:
    process = start_orderly(tmp_path)  # development defaults: SQLite, demo catalog
    try:
        yield process
    finally:
        process.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


def post(http: httpx.Client, query: str, token: str | None = None, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body = answer.json()
    assert not body.get("errors"), body
    return body["data"]


def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(socket.recv(timeout=10))
    return message


def customer_token(http: httpx.Client) -> str:
    register = "mutation R($input: RegisterInput!) { register(input: $input) { id } }"
    credentials = {"email": "sub@example.com", "password": "a-long-passphrase"}
    post(http, register, input={**credentials, "fullName": "Sub"})
    form = {"username": credentials["email"], "password": credentials["password"]}
    token: str = http.post("/api/v1/auth/token", data=form).json()["access_token"]
    return token


def test_subscribe_pay_and_receive_the_change(server: Process) -> None:
    with httpx.Client(base_url=server.base, timeout=10) as http:
        token = customer_token(http)
        item = post(http, "{ items(first: 1) { edges { node { id } } } }")
        item_id = item["items"]["edges"][0]["node"]["id"]
        place = """mutation P($input: PlaceOrderInput!) {
          placeOrder(input: $input) { order { id status } } }"""
        placed = post(http, place, token, input={"lines": [{"itemId": item_id, "quantity": 1}]})
        order_id = placed["placeOrder"]["order"]["id"]
        url = server.base.replace("http://", "ws://") + "/graphql"
        with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as socket:
            auth = {"Authorization": f"Bearer {token}"}
            socket.send(json.dumps({"type": "connection_init", "payload": auth}))
            assert receive(socket)["type"] == "connection_ack"
            subscribe = {"query": WATCH, "variables": {"id": order_id}}
            socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            first = receive(socket)
            assert first["type"] == "next", first
            snapshot = first["payload"]["data"]["orderStatus"]
            assert (snapshot["type"], snapshot["status"]) == ("snapshot", "PENDING_PAYMENT")
            pay = """mutation Pay($id: ID!) {
              payOrder(orderId: $id, paymentMethod: "pm_card_visa") { status } }"""
            assert post(http, pay, token, id=order_id)["payOrder"]["status"] == "PAID"
            change = receive(socket)["payload"]["data"]["orderStatus"]
            assert change == {
                "orderId": order_id,
                "sequence": snapshot["sequence"] + 1,
                "type": "order.paid",
                "status": "PAID",
                "fromStatus": "pending_payment",
            }
            socket.send(json.dumps({"id": "1", "type": "complete"}))


def test_a_bad_token_or_a_foreign_order_is_refused(server: Process) -> None:
    url = server.base.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as socket:
        with pytest.raises(ConnectionClosed) as closed:  # no connection_init within 5 s
            receive(socket)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4408
    with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as socket:
        socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer x"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            receive(socket)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
    with httpx.Client(base_url=server.base, timeout=10) as http:
        token = customer_token(http)
    with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as socket:
        socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert receive(socket)["type"] == "connection_ack"
        unknown = {"query": WATCH, "variables": {"id": "00000000-0000-4000-8000-000000000000"}}
        socket.send(json.dumps({"id": "2", "type": "subscribe", "payload": unknown}))
        answer = receive(socket)
        errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "order-not-found", answer
