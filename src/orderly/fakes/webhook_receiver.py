"""A fake webhook receiver: a real ASGI app that takes deliveries on any path, checks their
Standard Webhooks signatures with the ``standardwebhooks`` library, and counts them per
webhook-id. Run it as its own process: ``orderly fake-receiver --port 8200``.

``POST /_control`` sets how a path answers (``path`` left out: every path without its own):
``{"path": "/hook", "secrets": ["whsec_..."], "fail_first": 3, "fail_status": 500,
"retry_after": "2", "gone": false, "slow_first": 1, "slow_seconds": 5}``. With secrets, a
delivery whose signature none of them verifies is refused with 401. Setting a path's
behaviour starts its request count afresh.

``GET /_stats`` shows per path: requests, verified, deliveries per webhook-id, and the last
requests received (headers and body, for tests that check signatures themselves).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEPT = 100  # requests remembered per path
MAX_BODY = 1_048_576
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass
class Behaviour:
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    fail_status: int = 500
    retry_after: str | None = None
    gone: bool = False
    slow_first: int = 0
    slow_seconds: float = 0.0


@dataclass
class PathLog:
    requests: int = 0
    verified: int = 0
    by_id: Counter[str] = field(default_factory=Counter)
    received: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "verified": self.verified,
            "by_id": dict(self.by_id),
            "received": self.received,
        }


class Receiver:
    def __init__(self, default: Behaviour) -> None:
        self.default = default
        self.behaviours: dict[str, Behaviour] = {}
        self.paths: dict[str, PathLog] = {}

    async def hook(self, request: Request) -> Response:
        path = request.url.path
        behaviour = self.behaviours.get(path, self.default)
        log = self.paths.setdefault(path, PathLog())
        log.requests += 1
        number = log.requests
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too large"}, 413)
        headers = {name: request.headers.get(name, "") for name in SIGNATURE_HEADERS}
        verified = _verify(behaviour.secrets, body, headers)
        entry: dict[str, Any] = {
            "number": number,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "verified": verified,
        }
        log.received = [*log.received[-(KEPT - 1) :], entry]
        if behaviour.slow_first >= number:
            await asyncio.sleep(behaviour.slow_seconds)
        status, extra = self._answer(behaviour, number, verified)
        entry["status"] = status
        if status == 200:
            log.by_id[headers["webhook-id"]] += 1
            log.verified += verified is True
        return JSONResponse({"status": status}, status, headers=extra)

    @staticmethod
    def _answer(
        behaviour: Behaviour, number: int, verified: bool | None
    ) -> tuple[int, dict[str, str]]:
        if behaviour.gone:
            return 410, {}
        if verified is False:
            return 401, {}
        if behaviour.fail_first >= number:
            extra = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            return behaviour.fail_status, extra
        return 200, {}

    async def control(self, request: Request) -> JSONResponse:
        changes = await request.json()
        if not isinstance(changes, dict):
            return JSONResponse({"error": "a JSON object expected"}, 400)
        path = changes.pop("path", None)
        known = {f.name for f in fields(Behaviour)}
        unknown = sorted(set(changes) - known)
        if unknown:
            return JSONResponse({"error": f"unknown settings: {', '.join(unknown)}"}, 400)
        behaviour = Behaviour(**changes)
        if path is None:
            self.default = behaviour
            self.paths.clear()
        else:
            self.behaviours[path] = behaviour
            self.paths.pop(path, None)
        return JSONResponse({"path": path, **vars(behaviour)})

    async def stats(self, request: Request) -> JSONResponse:
        wanted = request.query_params.get("path")
        paths = {p: log.as_json() for p, log in self.paths.items() if wanted in (None, p)}
        return JSONResponse({"paths": paths})


def _verify(secrets: list[str], body: bytes, headers: dict[str, str]) -> bool | None:
    """True if one of ``secrets`` verifies the delivery, False if none does, None if the
    receiver was given no secret to check with."""
    if not secrets:
        return None
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError):
            continue
        return True
    return False


async def _health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_receiver_app(behaviour: Behaviour | None = None) -> Starlette:
    receiver = Receiver(behaviour or Behaviour())
    app = Starlette(
        routes=[
            Route("/_health", _health),
            Route("/_stats", receiver.stats),
            Route("/_control", receiver.control, methods=["POST"]),
            Route("/{path:path}", receiver.hook, methods=["POST"]),
        ]
    )
    app.state.receiver = receiver
    return app
