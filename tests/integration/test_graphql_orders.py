"""GraphQL accounts and orders: register, me, placeOrder (idempotent), payOrder, cancelOrder,
myOrders with lines, items, payments and timeline, order(id); admin fields and mutations.
Bad input and foreign orders are refused with REST's problem codes and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orderly.container import Container
from orderly.models import Item, Role
from tests.conftest import Account, make_account
from tests.integration.graphql_helpers import data, error, gql
from tests.integration.test_items import add_item
from tests.integration.test_orders import order_count, run_jobs, stock

ORDER_FIELDS = """id status total { amount currency }
  lines { quantity unitPrice { amount } item { name price { amount currency } } }
  payments { status amount { amount } }
  timeline { sequence type toStatus actor { kind } }"""
PLACE = f"""mutation Place($input: PlaceOrderInput!, $key: String) {{
  placeOrder(input: $input, idempotencyKey: $key) {{ replayed order {{ {ORDER_FIELDS} }} }}
}}"""
MY_ORDERS = f"""query Mine($first: Int! = 20, $after: String) {{
  myOrders(first: $first, after: $after) {{
    edges {{ node {{ {ORDER_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
ORDER = f"query One($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
PAY = (
    "mutation Pay($id: ID!, $pm: String) { payOrder(orderId: $id, paymentMethod: $pm) { status } }"
)
CANCEL = (
    "mutation Cancel($id: ID!, $r: String) { cancelOrder(orderId: $id, reason: $r) { status } }"
)
FULFIL = "mutation Fulfil($id: ID!) { fulfilOrder(orderId: $id) { status timeline { type } } }"


@pytest.fixture
async def lamp(container: Container) -> Item:
    return await add_item(container, "LAMP-1", name="Lamp", price_minor=2500, stock=10)


def lines(item: Item, quantity: Any = 2, **extra: Any) -> dict[str, Any]:
    return {"lines": [{"itemId": str(item.id), "quantity": quantity}], **extra}


async def place(
    client: httpx.AsyncClient, who: Account, item: Item, key: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = await gql(client, PLACE, {"input": lines(item, **extra), "key": key}, account=who)
    placed: dict[str, Any] = data(body)["placeOrder"]
    return placed


async def test_register_then_me(client: httpx.AsyncClient, container: Container) -> None:
    query = """mutation R($input: RegisterInput!) { register(input: $input) { email role } }"""
    ok = {"email": "dora@example.com", "password": "a-long-passphrase", "fullName": "Dora"}
    assert data(await gql(client, query, {"input": ok}))["register"] == {
        "email": "dora@example.com",
        "role": "CUSTOMER",
    }
    taken = error(await gql(client, query, {"input": ok}), "email-taken")
    assert taken["extensions"]["field"] == "email"
    weak = error(
        await gql(client, query, {"input": {**ok, "password": "short"}}), "validation-failed"
    )
    assert weak["extensions"]["argument"] == "input"
    assert weak["extensions"]["errors"][0]["field"] == "input.password"
    bad = error(await gql(client, query, {"input": {**ok, "email": "x"}}), "validation-failed")
    assert bad["extensions"]["errors"][0]["field"] == "input.email"
    account = await make_account(container, "erin@example.com")
    me = data(await gql(client, "{ me { email fullName } }", account=account))["me"]
    assert me == {"email": "erin@example.com", "fullName": "Erin"}
    error(await gql(client, "{ me { email } }"), "not-authenticated")
    bogus = Account(account.user, "", "", "not-a-token", "")
    error(await gql(client, "{ me { email } }", account=bogus), "invalid-token")


async def test_place_pay_and_read_with_timeline(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    placed = await place(client, customer, lamp, key="k-1")
    order = placed["order"]
    assert placed["replayed"] is False
    assert order["status"] == "PENDING_PAYMENT"
    assert order["total"] == {"amount": "50.00", "currency": "EUR"}
    assert order["lines"] == [
        {
            "quantity": 2,
            "unitPrice": {"amount": "25.00"},
            "item": {"name": "Lamp", "price": {"amount": "25.00", "currency": "EUR"}},
        }
    ]
    assert [(e["type"], e["actor"]["kind"]) for e in order["timeline"]] == [
        ("order.placed", "CUSTOMER")
    ]
    again = await place(client, customer, lamp, key="k-1")
    assert again["replayed"] is True
    assert again["order"]["id"] == order["id"]
    assert await stock(container, lamp) == [8]
    reused = await gql(client, PLACE, {"input": lines(lamp, 3), "key": "k-1"}, account=customer)
    error(reused, "idempotency-key-reused")
    paid = await gql(client, PAY, {"id": order["id"], "pm": "pm_card_visa"}, account=customer)
    assert data(paid)["payOrder"]["status"] == "PAID"
    mine = data(await gql(client, MY_ORDERS, account=customer))["myOrders"]["edges"]
    assert [n["node"]["status"] for n in mine] == ["PAID"]
    assert mine[0]["node"]["payments"] == [{"status": "SUCCEEDED", "amount": {"amount": "50.00"}}]
    assert [e["type"] for e in mine[0]["node"]["timeline"]] == ["order.placed", "order.paid"]
    one = data(await gql(client, ORDER, {"id": order["id"]}, account=customer))["order"]
    assert one == mine[0]["node"]


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"input": {"lines": []}}, "validation-failed", "input.lines"),
        (
            {"input": {"lines": [{"itemId": "nope", "quantity": 1}]}},
            "validation-failed",
            "input.lines.0.itemId",
        ),
        ({"input": "LAMP", "quantity": 0}, "validation-failed", "input.lines.0.quantity"),
        ({"input": "LAMP", "quantity": 11}, "insufficient-stock", None),
        ({"input": "UNKNOWN", "quantity": 1}, "item-unavailable", None),
        (
            {"input": "LAMP", "quantity": 1, "paymentMethod": "pm card"},
            "validation-failed",
            "input.paymentMethod",
        ),
        ({"input": "LAMP", "quantity": 1, "key": "a key"}, "validation-failed", "idempotencyKey"),
        ({"input": "LAMP", "quantity": 1, "key": "k" * 256}, "validation-failed", "idempotencyKey"),
    ],
)
async def test_bad_orders_write_nothing(
    client: httpx.AsyncClient,
    container: Container,
    customer: Account,
    lamp: Item,
    variables: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    variables = dict(variables)  # the parameters are shared by both databases' runs
    if isinstance(variables["input"], str):
        item_id = (
            str(lamp.id) if variables["input"] == "LAMP" else "00000000-0000-4000-8000-000000000000"
        )
        line = {"itemId": item_id, "quantity": variables.pop("quantity")}
        pm = variables.pop("paymentMethod", None)
        variables["input"] = {"lines": [line], "paymentMethod": pm}
    found = error(await gql(client, PLACE, variables, account=customer), code)
    if field is not None:
        assert field in {e["field"] for e in found["extensions"]["errors"]}, found
    assert await order_count(container) == 0
    assert await stock(container, lamp) == [10]


async def test_foreign_orders_are_not_found_and_admin_fields_forbidden(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    order = (await place(client, customer, lamp))["order"]
    stranger = await make_account(container, "mallory@example.com")
    for query, variables in [
        (ORDER, {"id": order["id"]}),
        (PAY, {"id": order["id"], "pm": "pm_card_visa"}),
        (CANCEL, {"id": order["id"]}),
        (ORDER, {"id": "00000000-0000-4000-8000-000000000000"}),
    ]:
        error(await gql(client, query, variables, account=stranger), "order-not-found")
    assert data(await gql(client, MY_ORDERS, account=stranger))["myOrders"]["edges"] == []
    for query in [
        "{ orders { edges { node { id } } } }",
        "{ users { edges { node { email } } } }",
    ]:
        error(await gql(client, query, account=customer), "admin-required")
    error(await gql(client, FULFIL, {"id": order["id"]}, account=customer), "admin-required")
    update = "mutation U($id: ID!) { updateItem(id: $id, input: {priceMinor: 1}) { id } }"
    error(await gql(client, update, {"id": str(lamp.id)}, account=customer), "admin-required")
    assert (await container.catalog.get_item(item_id=lamp.id)).price_minor == 2500
    assert (
        data(await gql(client, ORDER, {"id": order["id"]}, account=customer))["order"]["status"]
        == "PENDING_PAYMENT"
    )


async def test_cancel_and_admin_operations(
    client: httpx.AsyncClient, container: Container, customer: Account, lamp: Item
) -> None:
    admin = await make_account(container, "ada@example.com", role=Role.ADMIN)
    first = (await place(client, customer, lamp))["order"]
    second = (await place(client, customer, lamp, paymentMethod="pm_card_visa"))["order"]
    too_long = error(
        await gql(client, CANCEL, {"id": first["id"], "r": "x" * 501}, account=customer),
        "validation-failed",
    )
    assert too_long["extensions"]["argument"] == "reason"
    cancelled = await gql(
        client, CANCEL, {"id": first["id"], "r": "changed my mind"}, account=customer
    )
    assert data(cancelled)["cancelOrder"]["status"] == "CANCELLED"
    error(
        await gql(client, CANCEL, {"id": first["id"]}, account=customer), "illegal-order-transition"
    )
    await run_jobs(container)  # the worker charges the order placed with a payment method
    fulfilled = data(await gql(client, FULFIL, {"id": second["id"]}, account=admin))["fulfilOrder"]
    assert fulfilled["status"] == "FULFILLED"
    assert fulfilled["timeline"][-1] == {"type": "order.fulfilled"}
    listing = """query All($status: OrderStatus, $user: ID) {
      orders(status: $status, userId: $user) { edges { node { id status } } } }"""
    found = data(await gql(client, listing, {"status": "FULFILLED"}, account=admin))
    assert [e["node"]["id"] for e in found["orders"]["edges"]] == [second["id"]]
    none = data(await gql(client, listing, {"user": str(admin.user.id)}, account=admin))
    assert none["orders"]["edges"] == []
    users = data(
        await gql(
            client,
            "{ users(first: 1) { edges { node { email } } pageInfo { hasNextPage endCursor } } }",
            account=admin,
        )
    )
    assert users["users"]["pageInfo"]["hasNextPage"] is True
    after = users["users"]["pageInfo"]["endCursor"]
    rest = data(
        await gql(
            client,
            "query U($a: String) { users(first: 5, after: $a) { edges { node { email } } } }",
            {"a": after},
            account=admin,
        )
    )
    emails = [users["users"]["edges"][0]["node"]["email"]] + [
        e["node"]["email"] for e in rest["users"]["edges"]
    ]
    assert sorted(emails) == ["ada@example.com", "carol@example.com"]
    update = """mutation U($id: ID!, $input: ItemUpdateInput!) {
      updateItem(id: $id, input: $input) { price { amount } stock isActive } }"""
    changed = await gql(
        client,
        update,
        {"id": str(lamp.id), "input": {"priceMinor": 1999, "stock": 3}},
        account=admin,
    )
    assert data(changed)["updateItem"] == {
        "price": {"amount": "19.99"},
        "stock": 3,
        "isActive": True,
    }
    null = error(
        await gql(client, update, {"id": str(lamp.id), "input": {"name": None}}, account=admin),
        "validation-failed",
    )
    assert null["extensions"]["errors"][0]["field"] == "input.name"
    error(
        await gql(
            client,
            update,
            {"id": "00000000-0000-4000-8000-000000000000", "input": {"stock": 1}},
            account=admin,
        ),
        "item-not-found",
    )
    assert (await container.catalog.get_item(item_id=lamp.id)).name == "Lamp"
