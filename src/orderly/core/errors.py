"""Domain error kinds and the one place that turns errors into RFC 9457 problem+json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.status import HTTP_500_INTERNAL_SERVER_ERROR

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class DomainError(Exception):
    """Base of every expected failure; subclasses pick a kind below and a ``code``."""

    code = "domain-error"
    title = "Request failed"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class Forbidden(DomainError):
    title = "Forbidden"


class Unauthorized(DomainError):
    title = "Not authenticated"


class Unprocessable(DomainError):
    title = "Unprocessable request"


class Unavailable(DomainError):
    """A peer we depend on is down; nothing was changed and the client may retry later."""

    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after or 1)))}


class TooManyRequests(DomainError):
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, limit: int, remaining: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining

    def headers(self) -> dict[str, str]:
        return {
            "Retry-After": str(self.retry_after),
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.retry_after),
        }


STATUS_BY_KIND: dict[type[DomainError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
    TooManyRequests: 429,
    Unavailable: 503,
}


def status_for(error: DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_BY_KIND:
            return STATUS_BY_KIND[kind]
    return 400


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
    body: dict[str, Any] = {
        "type": f"urn:orderly:problem:{code}" if code else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # noqa: S101 - registered for DomainError only
    status = status_for(exc)
    extra: dict[str, Any] = {}
    if exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.detail, "type": exc.code}]
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, Unavailable | TooManyRequests):
        headers = exc.headers()
    return problem(
        status,
        exc.title,
        exc.detail,
        code=exc.code,
        instance=request.url.path,
        headers=headers,
        **extra,
    )


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
    return problem(
        422,
        "Validation failed",
        f"Invalid or missing fields: {fields}",
        code="validation-failed",
        instance=request.url.path,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    titles = {401: "Not authenticated", 403: "Forbidden", 404: "Not found", 405: "Not allowed"}
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "Request failed"),
        detail,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
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
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal server error",
        "The server failed to handle this request; it has been logged.",
        instance=request.url.path,
        request_id=request_id,
        headers={"X-Request-ID": request_id} if request_id else None,
    )


async def _backend_error(request: Request, exc: Exception) -> JSONResponse:
    """The database went away (connection lost: the pool is invalidated and the next request
    reconnects), the pool stayed exhausted, or a backing service refused the connection:
    503 with Retry-After, the client may retry. Any other database error is a bug (500)."""
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
        return await _unexpected_error(request, exc)
    log.warning(
        "backend_unavailable",
        path=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        error_type=type(exc).__name__,
    )
    return problem(
        503,
        "Service unavailable",
        "A backing service is unreachable; retry shortly.",
        code="backend-unavailable",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DBAPIError, _backend_error)
    app.add_exception_handler(PoolTimeout, _backend_error)
    app.add_exception_handler(ConnectionError, _backend_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
