"""Client for the external payment provider (a payment-intents API over HTTP).

Every call carries an idempotency key derived from the order, so a retried charge is charged
once. Transient failures (timeouts, connection errors, 5xx, 429) are retried with exponential
backoff and jitter; a circuit breaker in front fails fast while the provider is down. A decline
is an answer, not a failure: it is never retried and does not trip the breaker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from orderly.core import metrics
from orderly.integrations.breaker import CircuitBreaker, CircuitOpen

log = structlog.get_logger(__name__)


class PaymentError(Exception):
    """Base of what the provider client raises."""


class PaymentDeclined(PaymentError):
    """The provider answered and refused (card declined): final for this payment."""


class PaymentUnavailable(PaymentError):
    """No answer we can act on (down, timing out, circuit open): try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentRejected(PaymentError):
    """A 4xx other than a decline: our request was wrong; retrying it cannot help."""


class _Transient(Exception):
    pass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 2.0


class PaymentProvider:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        breaker: CircuitBreaker,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self.breaker = breaker
        self._retry = retry or RetryPolicy()

    async def charge(
        self, *, idempotency_key: str, amount_minor: int, currency: str, payment_method: str
    ) -> str:
        """Charge and confirm; returns the provider's payment reference."""
        body = await self._post(
            "/v1/payment_intents",
            {
                "amount": amount_minor,
                "currency": currency.lower(),
                "payment_method": payment_method,
                "confirm": True,
            },
            idempotency_key,
        )
        return str(body["id"])

    async def refund(self, *, idempotency_key: str, reference: str, amount_minor: int) -> str:
        body = await self._post(
            "/v1/refunds", {"payment_intent": reference, "amount": amount_minor}, idempotency_key
        )
        return str(body["id"])

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential_jitter(
                multiplier=self._retry.initial_backoff,
                jitter=self._retry.initial_backoff,
                max=self._retry.max_backoff,
            ),
            reraise=True,
        )
        started, outcome = time.perf_counter(), "ok"
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(path, payload, key)
        except _Transient as exc:
            outcome = "unavailable"
            raise PaymentUnavailable(f"payment provider unavailable: {exc}") from exc
        except CircuitOpen as exc:
            outcome = "circuit_open"
            raise PaymentUnavailable(str(exc), retry_after=exc.retry_after) from exc
        except PaymentError as exc:
            outcome = type(exc).__name__.removeprefix("Payment").lower()
            raise
        finally:
            operation = path.rsplit("/", 1)[-1]
            metrics.PAYMENT_LATENCY.labels(operation, outcome).observe(
                time.perf_counter() - started
            )
            metrics.BREAKER_STATE.labels(self.breaker.name).set(self.breaker.state.level)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, path: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self.breaker.before_call()
        try:
            response = await self._http.post(path, json=payload, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:  # timeouts, refused and reset connections
            self.breaker.record_failure()
            log.warning("payment_attempt_failed", path=path, error=type(exc).__name__)
            raise _Transient(type(exc).__name__) from exc
        if response.status_code >= 500 or response.status_code == 429:
            self.breaker.record_failure()
            log.warning("payment_attempt_failed", path=path, status=response.status_code)
            raise _Transient(f"HTTP {response.status_code}")
        body = _json_object(response)
        if not response.is_client_error and not isinstance(body.get("id"), str):
            # An answer we cannot read (not JSON, no id, a redirect): whether it charged is
            # unknown, so it is retried with the same idempotency key like an outage.
            self.breaker.record_failure()
            log.warning("payment_answer_unreadable", path=path, status=response.status_code)
            raise _Transient(f"unreadable answer (HTTP {response.status_code})")
        self.breaker.record_success()
        if response.status_code == 402:
            raise PaymentDeclined(_error_message(body, "the payment was declined"))
        if response.is_client_error:
            raise PaymentRejected(_error_message(body, f"HTTP {response.status_code}"))
        return body


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one if it is not a JSON object."""
    try:
        body = response.json()
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return body if isinstance(body, dict) else {}


def _error_message(body: dict[str, Any], default: str) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or default)
    return default
