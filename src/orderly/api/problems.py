"""OpenAPI documentation of the problem+json answers a route can give."""

from __future__ import annotations

from typing import Any

from orderly.core.errors import PROBLEM_JSON
from orderly.schemas.common import Problem

_DESCRIPTIONS = {
    401: "Not authenticated or the token is invalid",
    403: "Authenticated but not allowed",
    404: "No such resource",
    409: "Conflicts with the current state",
    422: "Invalid input; `errors` names each field",
    429: "Over the rate limit; see `Retry-After` and `RateLimit-*`",
    503: "A peer (the payment provider) is down; nothing changed, retry after `Retry-After`",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
