"""The panel's own protection against cross-site requests (SQLAdmin has none): a request
with an unsafe method must come from the panel's origin, by its ``Origin`` header (or its
``Referer`` when a browser sends no Origin); otherwise it is refused before the session is
read. The session cookie is also SameSite=Strict."""

from __future__ import annotations

from urllib.parse import urlsplit

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SameOriginMiddleware:
    """``trusted``: origins besides the request's own (the public URL behind a proxy)."""

    def __init__(self, app: ASGIApp, *, trusted: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"origin")
        if offered is None:
            referer = _header(scope, b"referer")
            offered = origin_of(referer) if referer else None
        own = f"{scope['scheme']}://{_header(scope, b'host') or ''}".lower()
        if offered is not None and (offered.lower() == own or offered.lower() in self.trusted):
            await self.app(scope, receive, send)
            return
        log.warning("admin_cross_origin_refused", origin=offered, path=scope["path"])
        body = b"Cross-origin request refused: this form must be sent from the admin panel."
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
