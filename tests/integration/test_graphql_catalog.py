"""GraphQL catalog queries: items as a cursor connection with REST's filters and sorts, and
one item; bad arguments are named and refused."""

from __future__ import annotations

import httpx
import pytest

from orderly.container import Container
from tests.integration.graphql_helpers import data, error, gql
from tests.integration.test_items import add_item

PAGE = """query Page($first: Int!, $after: String, $sort: ItemSort! = NAME, $q: String,
  $minPrice: Int, $maxPrice: Int) {
  items(first: $first, after: $after, sort: $sort, q: $q, minPrice: $minPrice,
        maxPrice: $maxPrice) {
    edges { cursor node { id sku name price { amount currency } stock } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""


@pytest.fixture
async def catalog(container: Container) -> None:
    for n, price in enumerate([1250, 300, 99999, 5000, 700]):
        await add_item(container, f"SKU-{n}", name=f"Item {n}", price_minor=price, stock=n)


async def test_items_page_by_cursor_in_every_sort(client: httpx.AsyncClient, catalog: None) -> None:
    first = data(await gql(client, PAGE, {"first": 2}))["items"]
    assert [e["node"]["name"] for e in first["edges"]] == ["Item 0", "Item 1"]
    assert first["edges"][0]["node"]["price"] == {"amount": "12.50", "currency": "EUR"}
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "endCursor": first["edges"][-1]["cursor"],
    }
    rest = data(await gql(client, PAGE, {"first": 10, "after": first["pageInfo"]["endCursor"]}))
    assert [e["node"]["name"] for e in rest["items"]["edges"]] == ["Item 2", "Item 3", "Item 4"]
    assert rest["items"]["pageInfo"]["hasNextPage"] is False
    by_price = data(await gql(client, PAGE, {"first": 2, "sort": "PRICE_DESC"}))["items"]
    assert [e["node"]["price"]["amount"] for e in by_price["edges"]] == ["999.99", "50.00"]
    after = by_price["pageInfo"]["endCursor"]
    more = data(await gql(client, PAGE, {"first": 1, "sort": "PRICE_DESC", "after": after}))
    assert more["items"]["edges"][0]["node"]["price"]["amount"] == "12.50"
    # A cursor of another sort order is not accepted for this one.
    wrong = error(await gql(client, PAGE, {"first": 1, "after": after}), "validation-failed")
    assert wrong["extensions"]["argument"] == "after"


async def test_items_filters_as_rest(client: httpx.AsyncClient, catalog: None) -> None:
    found = data(await gql(client, PAGE, {"first": 10, "minPrice": 500, "maxPrice": 5000}))
    assert sorted(e["node"]["name"] for e in found["items"]["edges"]) == [
        "Item 0",
        "Item 3",
        "Item 4",
    ]
    found = data(await gql(client, PAGE, {"first": 10, "q": "sku-1"}))
    assert [e["node"]["sku"] for e in found["items"]["edges"]] == ["SKU-1"]
    backwards = error(
        await gql(client, PAGE, {"first": 10, "minPrice": 9, "maxPrice": 1}),
        "invalid-price-range",
    )
    assert backwards["extensions"]["field"] == "minPrice"
    bad = error(await gql(client, PAGE, {"first": 10, "minPrice": -1}), "validation-failed")
    assert bad["extensions"]["argument"] == "minPrice"


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"first": 100000}, "first"),
        ({"first": 0}, "first"),
        ({"first": 5, "after": "not-a-cursor"}, "after"),
        ({"first": 5, "after": "eyJrIjoiaXRlbXM6bmFtZSJ9"}, "after"),  # ours, fields missing
        ({"first": 5, "after": "x" * 600}, "after"),
        ({"first": 5, "q": "a\u0000b"}, "q"),
    ],
)
async def test_bad_page_arguments_are_named(
    client: httpx.AsyncClient, variables: dict[str, object], argument: str
) -> None:
    found = error(await gql(client, PAGE, variables), "validation-failed")
    assert found["extensions"]["argument"] == argument
    assert found["path"] == ["items"]


async def test_one_item_and_unknown_or_malformed_ids(
    client: httpx.AsyncClient, container: Container
) -> None:
    lamp = await add_item(container, "LAMP-1", name="Lamp", price_minor=2500, stock=4)
    query = "query One($id: ID!) { item(id: $id) { id name price { amount currency } stock } }"
    found = data(await gql(client, query, {"id": str(lamp.id)}))["item"]
    assert found == {
        "id": str(lamp.id),
        "name": "Lamp",
        "price": {"amount": "25.00", "currency": "EUR"},
        "stock": 4,
    }
    error(
        await gql(client, query, {"id": "00000000-0000-4000-8000-000000000000"}),
        "item-not-found",
    )
    malformed = error(await gql(client, query, {"id": "lamp"}), "validation-failed")
    assert malformed["extensions"]["argument"] == "id"
    await container.catalog.delete_item(item_id=lamp.id)
    error(await gql(client, query, {"id": str(lamp.id)}), "item-not-found")


async def test_unknown_fields_and_syntax_errors_have_codes(client: httpx.AsyncClient) -> None:
    error(await gql(client, "{ items { edges { node { price_minor } } } }"), "invalid-query")
    error(await gql(client, "{ items { edges "), "invalid-query")
