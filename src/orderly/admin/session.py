"""The panel's session: a cookie holding a signed JWT (PyJWT, HS256 with a key of its own,
an expiry and an audience no API token has), HttpOnly, SameSite=Strict, Path=/admin and
Secure in production. Starlette's SessionMiddleware would do the same with itsdangerous,
which orderly does not install; SQLAdmin needs only ``scope["session"]``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import jwt
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

AUDIENCE = "orderly-admin-session"


class SignedSessionMiddleware:
    def __init__(
        self, app: ASGIApp, *, key: str, cookie: str, max_age: int, path: str, secure: bool
    ) -> None:
        self.app = app
        self.key = key
        self.cookie = cookie
        self.max_age = max_age
        flags = f"Path={path}; HttpOnly; SameSite=Strict"
        self.flags = flags + ("; Secure" if secure else "")

    def _read(self, scope: Scope) -> dict[str, Any]:
        for name, value in scope.get("headers", ()):
            if name != b"cookie":
                continue
            morsel = SimpleCookie(value.decode("latin-1")).get(self.cookie)
            if morsel is None:
                continue
            try:
                claims = jwt.decode(morsel.value, self.key, algorithms=["HS256"], audience=AUDIENCE)
            except jwt.InvalidTokenError:
                return {}  # forged, altered or expired: no session
            session = claims.get("session")
            return session if isinstance(session, dict) else {}
        return {}

    def _cookie(self, session: dict[str, Any]) -> str:
        if not session:
            return f"{self.cookie}=; Max-Age=0; {self.flags}"
        expires = datetime.now(UTC) + timedelta(seconds=self.max_age)
        token = jwt.encode(
            {"session": session, "exp": expires, "aud": AUDIENCE}, self.key, algorithm="HS256"
        )
        return f"{self.cookie}={token}; Max-Age={self.max_age}; {self.flags}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        initial = self._read(scope)
        before = json.dumps(initial, sort_keys=True)
        scope["session"] = dict(initial)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if json.dumps(session, sort_keys=True) != before:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", self._cookie(session))
                    headers.add_vary_header("Cookie")
            await send(message)

        await self.app(scope, receive, send_with_cookie)
