"""Posting GraphQL documents in the integration tests, and reading their errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account

GRAPHQL = "/graphql"


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    account: Account | None = None,
) -> dict[str, Any]:
    """The JSON answer of one operation (HTTP 200, as GraphQL over HTTP answers)."""
    headers = account.headers if account else {}
    response = await client.post(
        GRAPHQL, json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(body: dict[str, Any], code: str) -> dict[str, Any]:
    """The answer's single error, which must carry ``code``; no data came with it."""
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    assert errors[0]["extensions"]["code"] == code, body
    assert errors[0]["message"], body
    text = str(body).lower()
    for leak in ("traceback", "sqlalchemy", "select "):
        assert leak not in text, body
    found: dict[str, Any] = errors[0]
    return found


def data(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body
    found: dict[str, Any] = body["data"]
    return found
