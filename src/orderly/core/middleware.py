"""Pure ASGI middleware (no BaseHTTPMiddleware): request context and access log, body size
limit, security headers, and the 500 answer for unhandled errors."""

from __future__ import annotations

import inspect
import json
import os
import re
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, HTTPExceptionHandler, Message, Receive, Scope, Send
from structlog.typing import FilteringBoundLogger

from orderly.api.problems import PROBLEM_JSON
from orderly.core import metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first ``name`` header's value in an answer's headers."""
    for key, value in headers:
        if key == name:
            return value
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_problem(
    send: Send, status: int, title: str, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/items/{item_id}``), never the raw path,
    so metrics keep a bounded number of labels. FastAPI >= 0.160 includes routers lazily and
    keeps the full template in ``effective_route_context``; older ones in ``route``."""
    fastapi_state = scope.get("fastapi")
    effective = fastapi_state.get("effective_route_context") if fastapi_state else None
    for holder in (effective, scope.get("route")):
        path = getattr(holder, "path_format", None) or getattr(holder, "path", None)
        if isinstance(path, str):
            return path
    return "unmatched"


@lru_cache(maxsize=4096)
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter's and the latency histogram's series for these labels (their
    ``labels()`` checks and locks on every call). Bounded as the labels are: methods the
    server parses, route templates, statuses."""
    return (
        metrics.HTTP_REQUESTS.labels(method, route, str(status)),
        metrics.HTTP_LATENCY.labels(method, route),
    )


class RequestContextMiddleware:
    """Request id (accepted from ``X-Request-ID`` when sane), one access-log line per request,
    ``Server-Timing``, and the HTTP metrics, labelled by route template rather than raw path.
    ``access_log`` is the logger ``orderly.core.logging.access_logger(settings)`` builds."""

    def __init__(self, app: ASGIApp, *, access_log: FilteringBoundLogger) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        request_id = offered if offered and _REQUEST_ID.match(offered) else os.urandom(16).hex()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        streaming = False  # live status streams last minutes: kept out of the latency histogram

        async def send_with_context(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                content_type = _value(headers, b"content-type") or b""
                streaming = content_type.startswith(b"text/event-stream")
                elapsed_ms = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *headers,
                    (b"x-request-id", request_id.encode()),
                    (b"server-timing", f"app;dur={elapsed_ms:.1f}".encode()),
                ]
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_context)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            duration = time.perf_counter() - started
            template = route_template(scope)
            method = scope["method"]
            requests, latency = _series(method, template, status)
            requests.inc()
            if not streaming:
                latency.observe(duration)
            client = scope.get("client")
            try:
                self.access_log.info(
                    "request",
                    method=method,
                    route=template,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(duration * 1000, 2),
                    user_id=state.get("user_id"),
                    client=client[0] if client else None,
                )
            except (OSError, ValueError):
                pass  # stderr closed or broken: as with logging's handlers, no request fails
            finally:
                structlog.contextvars.clear_contextvars()


class BodySizeLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    # The app sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app answers is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    async def _refuse(self, send: Send) -> None:
        await send_problem(
            send,
            413,
            "Request body too large",
            f"The request body is larger than {self.max_bytes} bytes",
        )


_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# /docs and /redoc load only orderly's own files (api/docs.py): nothing from a CDN, and no
# inline script (Swagger UI's start-up script is a served file). ReDoc styles itself by
# inserting <style> elements at run time (styled-components) and builds its search index
# in a worker made from a blob: URL, so its page alone allows inline styles and blob workers.
_DOCS_COMMON = (
    b"default-src 'self'; script-src 'self'; img-src 'self' data:; font-src 'self'; "
    b"connect-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
    b"frame-ancestors 'none'; "
)
_SWAGGER_CSP = _DOCS_COMMON + b"style-src 'self'"
_REDOC_CSP = _DOCS_COMMON + b"style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
# The admin panel (SQLAdmin) serves its scripts, styles and fonts itself; its templates'
# one inline script is replaced by orderly's (admin/templates), so nothing inline runs.
_ADMIN_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; "
    b"object-src 'none'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """nosniff, frame deny, referrer policy, a CSP (the admin panel's and the docs pages'
    own, as their pages need; a response that sets one keeps it), and HSTS when served in
    production."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/admin" or path.startswith("/admin/"):
            csp = _ADMIN_CSP
        elif path == "/redoc":
            csp = _REDOC_CSP
        elif path == "/docs" or path.startswith("/docs/"):
            csp = _SWAGGER_CSP
        else:
            csp = _API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *self.headers]
                # A page with a policy of its own keeps it (GraphiQL: graphql/ide.py); two
                # policies would both apply, the stricter blanking the page.
                if _value(headers, b"content-security-policy") is None:
                    headers.append((b"content-security-policy", csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UnhandledErrorMiddleware:
    """Answers an exception that no handler took with ``handler``'s 500 inside the middleware
    stack, so that answer carries the security headers and request id like any other.
    Starlette's ServerErrorMiddleware, which calls the app's catch-all handler otherwise, sits
    outside every user middleware. The exception is raised on afterwards, as Starlette does,
    for the server and error reporters (Sentry); the answer has been sent by then."""

    def __init__(self, app: ASGIApp, *, handler: HTTPExceptionHandler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not started:
                answer = self.handler(Request(scope), exc)
                response = await answer if inspect.isawaitable(answer) else answer
                await response(scope, receive, send)
            raise
