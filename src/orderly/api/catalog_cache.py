"""The public catalog served from memory: a pure ASGI layer in front of FastAPI's routing.

``GET /api/v{1,2}/items`` and ``/items/{id}`` (the unversioned ``/api/items...`` arrives
here already routed by version: this layer sits inside ``ApiVersionMiddleware``) are answered
from a ``ResponseCache`` of response bytes keyed by path (version included) and normalized
query. Each answer carries a strong ``ETag`` (a hash of its bytes), ``Cache-Control: public,
max-age, stale-while-revalidate`` and ``Vary: Accept, X-API-Version``; ``If-None-Match``
that matches answers 304 with the same three. Only 200s are stored; a request with
``Authorization`` passes through (its answer may depend on the caller; cookies authenticate
nothing under /api). The request id, access log, metrics and security headers come from the
middleware outside this one, for hits as for everything else.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderly.api.response_cache import (
    BYPASS,
    COALESCED,
    HIT,
    MISS,
    CachedResponse,
    Key,
    ResponseCache,
)
from orderly.core.config import Settings
from orderly.core.middleware import route_template
from orderly.events.catalog_version import CatalogVersion

CACHEABLE = re.compile(r"/api/v[12]/items(?:/[^/]+)?")
MAX_QUERY = 512  # longer query strings are not cached (nor remembered normalized)
VARY = (b"vary", b"Accept, X-API-Version")
_ETAG = re.compile(rb'(?:W/)?("[^"]*")')


@dataclass(frozen=True, slots=True)
class CachedRoute:
    """Stands for the matched route on a hit (the router never ran): what the metrics and
    the access log read (``orderly.core.middleware.route_template``)."""

    path_format: str


@lru_cache(maxsize=1024)
def normalized_query(raw: bytes) -> str:
    """``b=2&a=1`` and ``a=1&b=%32`` are one key: decoded, sorted by name (the order of a
    repeated name kept), encoded again."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0])
    return urlencode(pairs)


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 13.1.2: ``*`` matches any current representation; otherwise a list of
    entity tags compared weakly (``W/"x"`` matches ``"x"``)."""
    if if_none_match.strip() == b"*":
        return True
    return etag in _ETAG.findall(if_none_match)


class CatalogCacheMiddleware:
    def __init__(
        self, app: ASGIApp, *, cache: ResponseCache, max_age: int, stale_while_revalidate: int
    ) -> None:
        self.app = app
        self.cache = cache
        self.cache_control = (
            b"cache-control",
            f"public, max-age={max_age}, stale-while-revalidate={stale_while_revalidate}".encode(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not CACHEABLE.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if_none_match = None
                break
            if name == b"if-none-match":
                if_none_match = value
        else:
            raw_query: bytes = scope["query_string"]
            if self.cache.serving and len(raw_query) <= MAX_QUERY:
                key = self.cache.key(scope["path"], normalized_query(raw_query))
                entry = self.cache.get(key)
                if entry is not None:
                    HIT.inc()
                elif (running := self.cache.follow(key)) is not None:
                    entry = await asyncio.shield(running)
                    COALESCED.inc()
                else:
                    MISS.inc()
                    entry = await self._compute(key, scope, receive, send)
                    if entry is None:
                        return  # not cacheable: the answer went out as it was
                if entry is not None:
                    scope["route"] = CachedRoute(entry.route)
                    await self._answer(entry, if_none_match, send)
                    return
        BYPASS.inc()
        await self.app(scope, receive, send)

    async def _compute(
        self, key: Key, scope: Scope, receive: Receive, send: Send
    ) -> CachedResponse | None:
        """Run the app once for ``key``; a cacheable answer is returned (and stored), any
        other is sent on as it was and None returned."""
        future = self.cache.lead(key)
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        entry = None
        try:
            await self.app(scope, receive, capture)
            entry = self._entry(messages, route_template(scope))
        except Exception:
            await _replay(messages, send)  # the 500 the inner middleware answered
            raise
        finally:
            self.cache.done(key, future, entry)
        if entry is None:
            await _replay(messages, send)
        return entry

    def _entry(self, messages: list[Message], route: str) -> CachedResponse | None:
        if not messages:
            return None
        start, *bodies = messages
        headers = start.get("headers", [])
        if start["status"] != 200 or any(name == b"set-cookie" for name, _ in headers):
            return None
        if not bodies or bodies[-1].get("more_body", False):
            return None
        body = b"".join(message.get("body", b"") for message in bodies)
        etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
        validators = [(b"etag", etag), self.cache_control, VARY]
        return CachedResponse(
            headers=[*headers, *validators],
            not_modified=validators,
            body=body,
            etag=etag,
            route=route,
            stored_at=time.monotonic(),
        )

    @staticmethod
    async def _answer(entry: CachedResponse, if_none_match: bytes | None, send: Send) -> None:
        # Copies of the header lists: middleware outside may append to what it is sent.
        if if_none_match is not None and etag_matches(if_none_match, entry.etag):
            await send(
                {"type": "http.response.start", "status": 304, "headers": [*entry.not_modified]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [*entry.headers]})
        await send({"type": "http.response.body", "body": entry.body})


async def _replay(messages: list[Message], send: Send) -> None:
    for message in messages:
        await send(message)


def catalog_cache(settings: Settings) -> ResponseCache | None:
    """The process's catalog cache, or None when it is turned off."""
    if not settings.catalog_cache_enabled:
        return None
    return ResponseCache(
        max_entries=settings.catalog_cache_max_entries,
        max_bytes=settings.catalog_cache_max_bytes,
        ttl=settings.catalog_cache_ttl,
    )


def serve_catalog_cache(
    cache: ResponseCache | None, version: CatalogVersion, redis_url: str | None
) -> Callable[[], Awaitable[None]]:
    """From the lifespan: ``cache`` drops its pages whenever ``version`` says so and serves
    only while ``version`` is trusted; with Redis, this process's listener starts. Returns
    what stops it."""
    if cache is None:
        return _nothing

    def changed(reason: str) -> None:
        cache.invalidate(reason)
        cache.serving = version.trusted

    version.watch(changed)
    cache.serving = version.trusted
    if not redis_url:
        return _nothing
    listener = version.listener(redis_url)
    listener.start()
    return listener.stop


async def _nothing() -> None:
    return None
