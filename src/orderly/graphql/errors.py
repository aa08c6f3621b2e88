"""Errors over GraphQL: each carries ``extensions.code``, the same problem code REST answers
with (``order-not-found``, ``admin-required``, ``validation-failed``, ...), and bad input names
the argument it came from. Unexpected errors are logged with the request id and, in
production, masked (``MaskErrors``): no internals reach a client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

import strawberry
import structlog
from graphql import GraphQLError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext
from strawberry.utils.str_converters import to_camel_case

from orderly.api.problems import BackendUnavailable, RequestInvalid
from orderly.core.errors import DomainError, TooManyRequests, Unavailable

log = structlog.get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

INTERNAL_ERROR = "internal-error"
MASKED_MESSAGE = "Unexpected error; it has been logged."
# Errors found before execution (syntax, schema validation, the limits), by their message.
_QUERY_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"exceeds maximum operation depth"), "query-too-deep"),
    (re.compile(r"aliases found\. Allowed"), "too-many-aliases"),
    (re.compile(r"Document contains more than \d+ tokens"), "query-too-large"),
    (re.compile(r"introspection has been disabled"), "introspection-disabled"),
)


class InvalidArgument(RequestInvalid):
    """An argument failed the same validation REST applies (``validation-failed``)."""

    def __init__(
        self, detail: str, *, argument: str, errors: Sequence[dict[str, str]] = ()
    ) -> None:
        super().__init__(detail, field=argument)
        self.argument = argument
        self.errors = list(errors) or [
            {"field": argument, "message": detail, "type": "value_error"}
        ]


def _path(argument: str | None, loc: Sequence[int | str]) -> str:
    parts = [to_camel_case(p) if isinstance(p, str) else str(p) for p in loc]
    return ".".join([argument, *parts] if argument else parts)


def validated(model: type[M], values: dict[str, Any], *, argument: str | None = None) -> M:
    """``values`` checked by the REST request model ``model``. ``argument``: the GraphQL
    argument they came in (an input object); None when each value is its own argument."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [
            {
                "field": _path(argument, err["loc"]),
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        fields = sorted({e["field"] for e in errors})
        raise InvalidArgument(
            f"Invalid value for {', '.join(fields)}: {errors[0]['message']}",
            argument=argument or fields[0],
            errors=errors,
        ) from None


def extensions_of(error: DomainError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": error.code}
    if isinstance(error, InvalidArgument):
        extensions["argument"] = error.argument
        extensions["errors"] = error.errors
    elif error.field:
        extensions["field"] = to_camel_case(error.field)
    if isinstance(error, Unavailable | TooManyRequests) and error.retry_after is not None:
        extensions["retryAfter"] = max(1, round(error.retry_after))
    return extensions


def _backend_down(error: BaseException | None) -> bool:
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, PoolTimeout | ConnectionError)


def with_code(error: GraphQLError) -> GraphQLError:
    """``error`` with its problem code in ``extensions.code``; unexpected ones are logged."""
    original = error.original_error
    if _backend_down(original):
        log.warning("backend_unavailable", error_type=type(original).__name__)
        original = BackendUnavailable(
            "A backing service is unreachable; retry shortly.", retry_after=1
        )
        error = GraphQLError(original.detail, error.nodes, path=error.path, original_error=original)
    if isinstance(original, DomainError):
        error.extensions = extensions_of(original)
    elif original is None:
        code = next(
            (code for pattern, code in _QUERY_PROBLEMS if pattern.search(error.message)),
            "invalid-query",
        )
        error.extensions = {**(error.extensions or {}), "code": code}
    else:
        log.error(
            "graphql_unhandled_error",
            path=error.path,
            error_type=type(original).__name__,
            exc_info=original,
        )
        error.extensions = {"code": INTERNAL_ERROR}
    return error


class CodedSchema(strawberry.Schema):
    """A schema whose results carry problem codes: ``process_errors`` sees every result's
    errors before it is sent (queries, mutations, each subscription message, and the
    errors found before execution), and replaces Strawberry's logging of each error."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        errors[:] = [with_code(error) for error in errors]


def _unexpected(error: GraphQLError) -> bool:
    return bool(error.extensions and error.extensions.get("code") == INTERNAL_ERROR)


class MaskUnexpected(MaskErrors):
    """``MaskErrors`` for the unexpected errors only (domain and query errors are the client's
    to read), keeping their code."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL_ERROR}
        return masked
