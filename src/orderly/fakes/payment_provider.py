"""A fake payment provider: a real ASGI app modelled on a payment-intents API.

Run it as its own process (``orderly fake-provider --port 8100``) for e2e tests and local
set-ups, or in-process as the sandbox when no provider URL is configured.

Test payment methods:
- ``pm_card_visa`` (or any other ``pm_...``): succeeds;
- ``pm_card_chargeDeclined``: always declined (402 ``card_declined``);
- ``pm_card_flaky_<n>``: the first n attempts of an idempotency key answer 503, then succeed;
- ``pm_card_slow_<n>``: the first n attempts charge but answer only after ``slow_seconds``
  (a client that times out and retries with the same key must still be charged once).

Idempotency keys behave as at real providers: the same key with the same parameters replays
the stored answer; with other parameters it is a 400 ``idempotency_error``. ``GET /_stats``
counts charges per key; ``POST /_control`` sets latency, failure rate and ``down``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DECLINE = "pm_card_chargeDeclined"


@dataclass
class ProviderState:
    api_key: str | None = None
    latency_ms: int = 0
    failure_rate: float = 0.0
    slow_seconds: float = 3.0
    down: bool = False
    replies: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    charges: Counter[str] = field(default_factory=Counter)
    refunds: Counter[str] = field(default_factory=Counter)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    rng: random.Random = field(default_factory=random.Random)


def _error(status: int, kind: str, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status)


def _trailing_number(method: str, prefix: str) -> int | None:
    if method.startswith(prefix) and method[len(prefix) :].isdigit():
        return int(method[len(prefix) :])
    return None


class FakeProvider:
    """The provider's behaviour; ``create_provider_app`` exposes it over HTTP."""

    def __init__(self, state: ProviderState) -> None:
        self.state = state

    async def _guard(self, request: Request) -> tuple[str, dict[str, Any]] | JSONResponse:
        state = self.state
        state.requests += 1
        if state.latency_ms:
            await asyncio.sleep(state.latency_ms / 1000)
        if state.down or (state.failure_rate and state.rng.random() < state.failure_rate):
            return _error(503, "api_error", "unavailable", "the provider is unavailable")
        if state.api_key and request.headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(401, "authentication_error", "invalid_api_key", "invalid API key")
        key = request.headers.get("idempotency-key")
        if not key:
            return _error(400, "invalid_request_error", "idempotency_key_missing", "key needed")
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _error(400, "invalid_request_error", "parameter_invalid", "body must be JSON")
        return key, payload

    def _replay(self, key: str, payload: dict[str, Any]) -> JSONResponse | None:
        stored = self.state.replies.get(key)
        if stored is None:
            return None
        if stored[0] != _fingerprint(payload):
            return _error(
                400, "idempotency_error", "idempotency_key_in_use", "key used with other params"
            )
        return JSONResponse(stored[2], stored[1], headers={"Idempotent-Replayed": "true"})

    def _store(self, key: str, payload: dict[str, Any], status: int, body: dict[str, Any]) -> None:
        self.state.replies[key] = (_fingerprint(payload), status, body)

    async def create_intent(self, request: Request) -> JSONResponse:
        checked = await self._guard(request)
        if isinstance(checked, JSONResponse):
            return checked
        key, payload = checked
        if (replayed := self._replay(key, payload)) is not None:
            return replayed
        amount, currency = payload.get("amount"), payload.get("currency")
        method = str(payload.get("payment_method", ""))
        if not isinstance(amount, int) or amount < 0 or not isinstance(currency, str):
            return _error(400, "invalid_request_error", "parameter_invalid", "amount/currency")
        state = self.state
        state.attempts[key] += 1
        flaky = _trailing_number(method, "pm_card_flaky_")
        if flaky is not None and state.attempts[key] <= flaky:
            return _error(503, "api_error", "unavailable", "transient failure (test card)")
        if method == DECLINE:
            body = {"error": {"type": "card_error", "code": "card_declined", "message": "declined"}}
            self._store(key, payload, 402, body)
            return JSONResponse(body, 402)
        intent: dict[str, Any] = {
            "id": f"pi_{secrets.token_hex(12)}",
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "status": "succeeded",
            "payment_method": method,
        }
        state.intents[intent["id"]] = intent
        state.charges[key] += 1
        self._store(key, payload, 200, intent)
        slow = _trailing_number(method, "pm_card_slow_")
        if slow is not None and state.attempts[key] <= slow:
            await asyncio.sleep(state.slow_seconds)  # charged, but the answer comes too late
        return JSONResponse(intent)

    async def create_refund(self, request: Request) -> JSONResponse:
        checked = await self._guard(request)
        if isinstance(checked, JSONResponse):
            return checked
        key, payload = checked
        if (replayed := self._replay(key, payload)) is not None:
            return replayed
        intent = self.state.intents.get(str(payload.get("payment_intent")))
        if intent is None:
            return _error(404, "invalid_request_error", "resource_missing", "no such intent")
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "payment_intent": intent["id"],
            "amount": payload.get("amount", intent["amount"]),
            "status": "succeeded",
        }
        intent["status"] = "refunded"
        self.state.refunds[key] += 1
        self._store(key, payload, 200, refund)
        return JSONResponse(refund)

    async def stats(self, _: Request) -> JSONResponse:
        state = self.state
        return JSONResponse(
            {
                "charges": dict(state.charges),
                "refunds": dict(state.refunds),
                "attempts": dict(state.attempts),
                "requests": state.requests,
            }
        )

    async def control(self, request: Request) -> JSONResponse:
        changes = await request.json()
        for name in ("latency_ms", "failure_rate", "slow_seconds", "down"):
            if name in changes:
                setattr(self.state, name, changes[name])
        return JSONResponse({"down": self.state.down, "failure_rate": self.state.failure_rate})


async def _health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def create_provider_app(
    *,
    api_key: str | None = None,
    latency_ms: int = 0,
    failure_rate: float = 0.0,
    slow_seconds: float = 3.0,
    seed: int | None = None,
) -> Starlette:
    provider = FakeProvider(
        ProviderState(
            api_key=api_key,
            latency_ms=latency_ms,
            failure_rate=failure_rate,
            slow_seconds=slow_seconds,
            rng=random.Random(seed),  # noqa: S311 - fault injection, not cryptography
        )
    )
    app = Starlette(
        routes=[
            Route("/v1/payment_intents", provider.create_intent, methods=["POST"]),
            Route("/v1/refunds", provider.create_refund, methods=["POST"]),
            Route("/_stats", provider.stats),
            Route("/_control", provider.control, methods=["POST"]),
            Route("/_health", _health),
        ]
    )
    app.state.provider = provider.state
    return app
