"""The HTTP edge of errors: each domain error kind's status, RFC 9457 problem+json rendering,
and the exception handlers that turn every failure into one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from orderly.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Unprocessable,
)

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)

STATUS_BY_KIND: dict[type[DomainError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
    TooManyRequests: 429,
    Unavailable: 503,
}


class RequestInvalid(Unprocessable):
    """The request does not match the operation's parameters or body schema."""

    code = "validation-failed"
    title = "Validation failed"


class BackendUnavailable(Unavailable):
    """The database or another backing service is unreachable; nothing was changed."""

    code = "backend-unavailable"


def status_for(kind: type[DomainError]) -> int:
    for base in kind.__mro__:
        if base in STATUS_BY_KIND:
            return STATUS_BY_KIND[base]
    return 400


def headers_for(error: DomainError) -> dict[str, str] | None:
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, TooManyRequests):
        return {
            "Retry-After": str(error.retry_after),
            "RateLimit-Limit": str(error.limit),
            "RateLimit-Remaining": str(error.remaining),
            "RateLimit-Reset": str(error.retry_after),
        }
    if isinstance(error, Unavailable):
        return {"Retry-After": str(max(1, round(error.retry_after or 1)))}
    return None


def problem_type(code: str | None) -> str:
    return f"urn:orderly:problem:{code}" if code else "about:blank"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": problem_type(code), "title": title, "status": status}
    if code:
        body["code"] = code
    body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def render(error: DomainError, request: Request, **extra: Any) -> JSONResponse:
    if error.field and "errors" not in extra:
        extra["errors"] = [{"field": error.field, "message": error.detail, "type": error.code}]
    return problem(
        status_for(type(error)),
        error.title,
        error.detail,
        code=error.code,
        instance=request.url.path,
        headers=headers_for(error),
        **extra,
    )


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # noqa: S101 - registered for DomainError only
    return render(exc, request, **exc.extensions())


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = [
        {
            "field": _field_name(err.get("loc", ())),
            "location": str(err.get("loc", ("body",))[0]),
            "message": str(err.get("msg", "invalid value")),
            "type": str(err.get("type", "value_error")),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(sorted({e["field"] or e["location"] for e in errors}))
    return render(RequestInvalid(f"Invalid or missing fields: {fields}"), request, errors=errors)


# FastAPI's answer to a body it cannot decode (not UTF-8): a 400 where undecodable JSON is a 422.
_UNREADABLE_BODY = "There was an error parsing the body"


def allowed_methods(request: Request) -> list[str]:
    """The methods the path serves, from its most specific routes (a literal segment such as
    ``replay-failed`` beats a ``{delivery_id}`` parameter), as a 405's ``Allow`` lists them."""
    path = request.scope.get("path", "")
    matching: list[tuple[int, set[str]]] = []
    for context in iter_route_contexts(request.app.routes):
        if context.path_format and context.methods:
            regex, _, convertors = compile_path(context.path_format)
            if regex.match(path):
                matching.append((len(convertors), context.methods))
    fewest = min((parameters for parameters, _ in matching), default=0)
    return sorted({m for parameters, methods in matching if parameters == fewest for m in methods})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        unreadable = RequestInvalid("The body is not valid UTF-8 JSON", field="body")
        return render(
            unreadable,
            request,
            errors=[
                {
                    "field": "body",
                    "location": "body",
                    "message": unreadable.detail,
                    "type": "json_invalid",
                }
            ],
        )
    titles = {401: "Not authenticated", 403: "Forbidden", 404: "Not found", 405: "Not allowed"}
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "Request failed"),
        detail,
        instance=request.url.path,
        headers=headers or None,
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.error(
        "unhandled_error",
        method=request.method,
        path=request.url.path,
        request_id=request_id,
        user_id=getattr(request.state, "user_id", None),
        error_type=type(exc).__name__,
        exc_info=exc,
    )
    return problem(
        500,
        "Internal server error",
        "The server failed to handle this request; it has been logged.",
        instance=request.url.path,
        request_id=request_id,
    )


# SQLSTATEs of a database that cannot serve now but will: connection exceptions (class 08),
# insufficient resources such as too many connections (class 53), and a server shutting down,
# crashed or still starting up (57P01-57P03, asyncpg's CannotConnectNowError).
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03")
SQLITE_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


def database_unavailable(error: DBAPIError) -> bool:
    """Whether a database error means "unavailable, retry later" rather than a bug."""
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    return getattr(error.orig, "sqlite_errorname", None) in SQLITE_BUSY


async def _backend_error(request: Request, exc: Exception) -> JSONResponse:
    """The database went away (connection lost: the pool is invalidated and the next request
    reconnects), cannot take connections now (shutting down, starting up, too many clients),
    the pool stayed exhausted, or a backing service refused or timed out the connection:
    503 with Retry-After, the client may retry. Any other database error is a bug (500)."""
    if isinstance(exc, DBAPIError) and not database_unavailable(exc):
        return await _unexpected_error(request, exc)
    log.warning(
        "backend_unavailable",
        path=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        error_type=type(exc).__name__,
    )
    unavailable = BackendUnavailable(
        "A backing service is unreachable; retry shortly.", retry_after=1
    )
    return render(unavailable, request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DBAPIError, _backend_error)
    app.add_exception_handler(PoolTimeout, _backend_error)
    app.add_exception_handler(ConnectionError, _backend_error)
    app.add_exception_handler(TimeoutError, _backend_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
