"""The OpenAPI document describes what the server sends, so a client generated from it works.

- Every error answer is ``application/problem+json`` with the ``Problem`` schema.
- Each operation lists the problems it can answer with, by status, with their ``code``s. They
  come from the error classes: a route declares what its service calls raise
  (``responses=problem_responses(OrderNotFound, ...)``), a dependency what it raises
  (``@raises(NotAuthenticated)``), and every operation with parameters or a body gets
  ``validation-failed``. A status's description and examples are built from those classes.
- String enums carry ``x-enum-varnames`` (the Python member names), so ``-price`` becomes
  ``PRICE_DESC`` in a generated client rather than ``VALUE_3``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from orderly.api.problems import PROBLEM_JSON, RequestInvalid, problem_type, status_for
from orderly.core.errors import DomainError
from orderly.schemas.common import Problem

Responses = dict[int | str, dict[str, Any]]

# The documentation's sections in reading order (the routes are in the order of their
# traffic: main.py), each operation's tag named here (tests/integration/test_openapi_client.py).
TAGS: list[dict[str, Any]] = [
    {"name": "auth", "description": "Register, sign in (tokens, two-factor), refresh, sign out."},
    {
        "name": "account",
        "description": "E-mail verification, password reset, two-factor set-up and codes.",
    },
    {"name": "users", "description": "Your profile and password; accounts, for administrators."},
    {"name": "items", "description": "The catalog: public reads (cached), writes for admins."},
    {"name": "orders", "description": "Place, pay, cancel, fulfil; timeline, live status."},
    {"name": "reports", "description": "Sales reports for administrators."},
    {
        "name": "webhooks",
        "description": "Where orderly sends order events (admins): endpoints, secrets, "
        "deliveries and their replay.",
    },
    {"name": "items v2", "description": "The catalog with decimal prices and cursors."},
    {"name": "orders v2", "description": "Orders with decimal totals and cursors."},
    {"name": "health", "description": "Liveness and readiness probes."},
]
Call = TypeVar("Call", bound=Callable[..., Any])

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
_MEANINGS = {
    400: "Bad request",
    401: "Not authenticated, or the token is not valid",
    403: "Authenticated but not allowed",
    404: "No such resource",
    409: "Conflicts with the current state",
    422: "Invalid input; `errors` names each field",
    429: "Over the rate limit; see `Retry-After` and `RateLimit-*`",
    503: "A peer is down; nothing changed, retry after `Retry-After`",
}
WEBHOOK_ANSWERS = {
    "2XX": {"description": "Received (within 10 s); the delivery is done"},
    "410": {"description": "Gone: orderly disables the endpoint"},
    "default": {"description": "Anything else, or no answer: retried with backoff"},
}


def problem_responses(*errors: type[DomainError]) -> Responses:
    """The error answers of a route: one per status, each listing its problems' codes."""
    responses: Responses = {}
    for error in errors:
        status = status_for(error)
        response = responses.setdefault(
            status, {"content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA, "examples": {}}}}
        )
        response["content"][PROBLEM_JSON]["examples"][error.code] = _example(error, status)
        response["description"] = _describe(status, response)
    return responses


def raises(*errors: type[DomainError]) -> Callable[[Call], Call]:
    """Mark a dependency with the problems it answers with; every operation that depends on
    it, directly or through another dependency, documents them."""

    def mark(dependency: Call) -> Call:
        vars(dependency)["openapi_problems"] = errors
        return dependency

    return mark


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        webhooks=app.webhooks.routes,
        tags=app.openapi_tags,
    )
    for path, route in _routes(app):
        for method in route.methods or ():
            operation = document["paths"][path][method.lower()]
            _add_problems(operation["responses"], problem_responses(*_shared_problems(route)))
    for operations in document.get("webhooks", {}).values():
        for operation in operations.values():  # requests orderly sends: the receiver answers
            operation["responses"] = WEBHOOK_ANSWERS
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    _name_enum_values(schemas)
    return document


def _routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path_format:
            yield context.path_format, route


def _shared_problems(route: APIRoute) -> list[type[DomainError]]:
    """The problems of the route's dependencies, and ``validation-failed`` when it reads input."""
    errors = [error for dependant in _dependants(route.dependant) for error in _marks(dependant)]
    if get_flat_params(route.dependant) or route.body_field is not None:
        errors.append(RequestInvalid)
    return errors


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependants(dependency)


def _marks(dependant: Dependant) -> tuple[type[DomainError], ...]:
    problems: tuple[type[DomainError], ...] = getattr(dependant.call, "openapi_problems", ())
    return problems


def _add_problems(responses: dict[str, Any], shared: Responses) -> None:
    """Merge the shared problems into the operation's; FastAPI's own 422 (its
    ``HTTPValidationError``, which this server never sends) is replaced."""
    for status, response in shared.items():
        current = responses.get(str(status))
        if current is None or PROBLEM_JSON not in current.get("content", {}):
            responses[str(status)] = response
            continue
        examples = current["content"][PROBLEM_JSON]["examples"]
        examples.update(response["content"][PROBLEM_JSON]["examples"])
        current["description"] = _describe(status, current)


def _example(error: type[DomainError], status: int) -> dict[str, Any]:
    """The problem's own docstring (its first paragraph) explains it; the kind's title if none."""
    docstring = vars(error).get("__doc__") or ""
    explanation = " ".join(docstring.strip().split("\n\n")[0].split()) or error.title
    return {
        "summary": explanation,
        "value": {
            "type": problem_type(error.code),
            "title": error.title,
            "status": status,
            "code": error.code,
            "detail": explanation,
        },
    }


def _describe(status: int | str, response: dict[str, Any]) -> str:
    codes = sorted(response["content"][PROBLEM_JSON]["examples"])
    listed = ", ".join(f"`{code}`" for code in codes)
    return f"{_MEANINGS.get(int(status), 'Request failed')}. `code`: {listed}"


def _name_enum_values(schemas: dict[str, Any]) -> None:
    """``x-enum-varnames`` from orderly's Python enum of the same name and values."""
    enums = {e.__name__: e for e in _subclasses(Enum) if e.__module__.startswith("orderly.")}
    for name, schema in schemas.items():
        enum = enums.get(name)
        if enum is not None and schema.get("enum") == [member.value for member in enum]:
            schema["x-enum-varnames"] = [member.name for member in enum]


def _subclasses(kind: type[Enum]) -> Iterator[type[Enum]]:
    for subclass in kind.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)
