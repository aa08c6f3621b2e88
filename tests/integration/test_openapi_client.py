"""The OpenAPI document describes what the server sends: a client generated from it
(openapi-python-client, as an integrator would) gets typed problems, replays and enums."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.main import create_app
from tests.conftest import TEST_SECRET, Account
from tests.integration.test_items import add_item

PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(_env_file=None, environment=Environment.TEST, secret_key=TEST_SECRET)
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


@pytest.fixture(scope="module")
def generated(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client package that openapi-python-client generates from the app's document."""
    work = tmp_path_factory.mktemp("openapi-client")
    (work / "openapi.json").write_text(json.dumps(document))
    (work / "config.yaml").write_text("post_hooks: []\n")  # no formatter run over the output
    cli = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(  # noqa: S603 - our own tool from the virtualenv, fixed arguments
        [
            str(cli),
            "generate",
            "--path",
            str(work / "openapi.json"),
            "--output-path",
            str(work / "client"),
            "--config",
            str(work / "config.yaml"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(work / "client"))
    try:
        yield importlib.import_module("orderly_client")
    finally:
        sys.path.remove(str(work / "client"))
        for name in [n for n in sys.modules if n.partition(".")[0] == "orderly_client"]:
            del sys.modules[name]


def operation(client: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{client.__name__}.api.{name}")


def client_for(generated: ModuleType, app: FastAPI, account: Account | None = None) -> Any:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    base = "http://testserver"
    if account is None:
        return generated.Client(base_url=base, httpx_args={"transport": transport})
    return generated.AuthenticatedClient(
        base_url=base, token=account.access_token, httpx_args={"transport": transport}
    )


async def test_a_generated_client_gets_typed_problems_and_replays(
    generated: ModuleType, app: FastAPI, container: Container, customer: Account
) -> None:
    lamp = await add_item(container, "LAMP-1", stock=2)
    models = importlib.import_module("orderly_client.models")
    place = operation(generated, "orders.place_order_api_v1_orders_post")

    def order_of(quantity: int) -> Any:
        return models.OrderCreate(
            lines=[models.OrderLineCreate(item_id=lamp.id, quantity=quantity)]
        )

    async with client_for(generated, app, customer) as api:
        conflict = await place.asyncio_detailed(client=api, body=order_of(3))
        assert conflict.status_code == 409
        assert isinstance(conflict.parsed, models.Problem)
        assert conflict.parsed.code == "insufficient-stock"
        assert conflict.parsed.type_ == "urn:orderly:problem:insufficient-stock"

        invalid = await place.asyncio_detailed(client=api, body=order_of(0))
        assert invalid.status_code == 422
        assert isinstance(invalid.parsed, models.Problem)
        assert invalid.parsed.code == "validation-failed"
        assert [error.field for error in invalid.parsed.errors] == ["lines.0.quantity"]

        first = await place.asyncio_detailed(client=api, body=order_of(1), idempotency_key="k-1")
        replay = await place.asyncio_detailed(client=api, body=order_of(1), idempotency_key="k-1")
        assert (first.status_code, replay.status_code) == (201, 200)
        assert isinstance(replay.parsed, models.OrderRead)
        assert replay.parsed.id == first.parsed.id


async def test_a_generated_client_names_and_sends_the_descending_sorts(
    generated: ModuleType, app: FastAPI, container: Container
) -> None:
    for sku, price in (("CHEAP-1", 100), ("DEAR-1", 900)):
        await add_item(container, sku, price_minor=price)
    models = importlib.import_module("orderly_client.models")
    browse = operation(generated, "items_v2.browse_items_api_v2_items_get")
    async with client_for(generated, app) as api:
        page = await browse.asyncio(client=api, sort=models.ItemSort.PRICE_DESC)
    assert [item.sku for item in page.items] == ["DEAR-1", "CHEAP-1"]


def responses(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                yield f"{method.upper()} {path}", status, response


def test_the_sections_are_in_reading_order_and_name_every_tag(document: dict[str, Any]) -> None:
    named = [tag["name"] for tag in document["tags"]]
    assert named[:5] == ["auth", "account", "users", "items", "orders"]
    used = {tag for ops in document["paths"].values() for op in ops.values() for tag in op["tags"]}
    assert used == set(named)


def test_every_error_answer_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    errors = [(where, status, r) for where, status, r in responses(document) if status[0] != "2"]
    assert errors
    for where, status, response in errors:
        assert list(response["content"]) == ["application/problem+json"], (where, status)
        media = response["content"]["application/problem+json"]
        assert media["schema"] == {"$ref": PROBLEM_REF}, (where, status)
        for code, example in media["examples"].items():
            assert example["value"]["code"] == code
            assert example["value"]["status"] == int(status)
            assert f"`{code}`" in response["description"], (where, status)
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in document["components"]["schemas"]


def test_every_success_is_documented_with_its_body(document: dict[str, Any]) -> None:
    successes = [(w, status, r) for w, status, r in responses(document) if status[0] == "2"]
    for where, status, response in successes:
        if status == "204":
            assert "content" not in response, where
            continue
        assert response["content"], (where, status)
        for media in response["content"].values():
            assert media["schema"], (where, status)


def test_the_problem_schema_is_never_documented_as_plain_json(document: dict[str, Any]) -> None:
    for where, status, response in responses(document):
        plain = response.get("content", {}).get("application/json", {})
        assert plain.get("schema") != {"$ref": PROBLEM_REF}, (where, status)


def codes(document: dict[str, Any], method: str, path: str, status: int) -> set[str]:
    response = document["paths"][path][method]["responses"][str(status)]
    return set(response["content"]["application/problem+json"]["examples"])


def test_each_operation_lists_the_codes_of_its_route_and_its_dependencies(
    document: dict[str, Any],
) -> None:
    place = "/api/v1/orders"
    assert codes(document, "post", place, 409) == {"insufficient-stock", "constraint-violated"}
    assert {"validation-failed", "invalid-order-lines"} <= codes(document, "post", place, 422)
    assert codes(document, "post", place, 401) == {"not-authenticated", "invalid-token"}
    assert codes(document, "post", place, 429) == {"rate-limited"}
    assert "admin-required" in codes(document, "post", "/api/v1/items", 403)
    assert "payment-provider-unavailable" in codes(
        document, "post", f"{place}/{{order_id}}/pay", 503
    )
    public = document["paths"]["/api/v1/items"]["get"]["responses"]
    assert "401" not in public
    assert "422" not in document["paths"]["/api/v1/users/me"]["get"]["responses"]


@pytest.mark.parametrize(
    ("path", "model"), [("/api/v1/orders", "OrderRead"), ("/api/v2/orders", "OrderReadV2")]
)
def test_the_idempotent_replay_is_documented_with_its_body(
    document: dict[str, Any], path: str, model: str
) -> None:
    replay = document["paths"][path]["post"]["responses"]["200"]
    assert replay["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{model}"
    }


def test_enum_values_have_names_a_generator_can_use(document: dict[str, Any]) -> None:
    sort = document["components"]["schemas"]["ItemSort"]
    names = dict(zip(sort["enum"], sort["x-enum-varnames"], strict=True))
    assert names["-price"] == "PRICE_DESC"
    assert names["created"] == "CREATED"
