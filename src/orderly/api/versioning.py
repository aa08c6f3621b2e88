"""API versions: ``/api/v1`` and ``/api/v2`` are explicit; the unversioned ``/api/...`` is
routed by ``Accept: application/vnd.orderly.v2+json`` or ``X-API-Version``, defaulting to v1.
Responses say which version answered (``API-Version``); v1 may carry ``Deprecation`` and
``Sunset`` headers from settings."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderly.core.middleware import send_problem

VERSIONS = ("1", "2")
LATEST = "2"
VENDOR_MEDIA = "application/vnd.orderly.v{version}+json"
# "/api/v1/" (a path's first 8 characters) or "/api/v1" (the whole path) -> "1"
_VERSIONED = {p.format(v): v for v in VERSIONS for p in ("/api/v{}/", "/api/v{}")}


def negotiate(accept: str | None, explicit: str | None) -> str | None:
    """The version asked for, "1" when none is, or None when an unknown one is."""
    if explicit:
        wanted = explicit.strip().lower().removeprefix("v")
        return wanted if wanted in VERSIONS else None
    if accept:
        for part in accept.split(","):
            media = part.split(";")[0].strip().lower()
            if media.startswith("application/vnd.orderly.v") and media.endswith("+json"):
                wanted = media.removeprefix("application/vnd.orderly.v").removesuffix("+json")
                return wanted if wanted in VERSIONS else None
    return "1"


class ApiVersionMiddleware:
    def __init__(
        self, app: ASGIApp, *, deprecation: str | None = None, sunset: str | None = None
    ) -> None:
        self.app = app
        # The headers each version's answers get, built once.
        self.headers = {v: [(b"api-version", v.encode())] for v in VERSIONS}
        if deprecation:
            self.headers["1"].append((b"deprecation", deprecation.encode()))
        if sunset:
            self.headers["1"].append((b"sunset", sunset.encode()))
            self.headers["1"].append((b"link", b'</api/v2>; rel="successor-version"'))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        version = _VERSIONED.get(path[:8]) or _VERSIONED.get(path)
        if version is None:
            headers = dict(scope.get("headers", ()))
            version = negotiate(_text(headers.get(b"accept")), _text(headers.get(b"x-api-version")))
            if version is None:
                await send_problem(
                    send,
                    406,
                    "Unsupported API version",
                    f"Supported versions: {', '.join(VERSIONS)} (X-API-Version or Accept "
                    f"{VENDOR_MEDIA.format(version='N')})",
                )
                return
            # Rewrite in place, so outer middleware sees the routed path and route template.
            scope["path"] = f"/api/v{version}{path[4:]}"
            scope["raw_path"] = scope["path"].encode()

        extra = self.headers[version]

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_version)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
