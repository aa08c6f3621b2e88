"""The payment client against the fake provider app (in-process here; a process in e2e)."""

from __future__ import annotations

import httpx
import pytest

from orderly.fakes.payment_provider import ProviderState, create_provider_app
from orderly.integrations.breaker import BreakerState, CircuitBreaker
from orderly.integrations.payments import (
    PaymentDeclined,
    PaymentProvider,
    PaymentRejected,
    PaymentUnavailable,
    RetryPolicy,
)

KEY = "sk_test_unit"


def provider(attempts: int = 3, threshold: int = 10) -> tuple[PaymentProvider, ProviderState]:
    app = create_provider_app(api_key=KEY, seed=1)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://provider",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    breaker = CircuitBreaker("payments", failure_threshold=threshold, reset_timeout=60)
    retry = RetryPolicy(attempts=attempts, initial_backoff=0.001, max_backoff=0.002)
    state: ProviderState = app.state.provider
    return PaymentProvider(http, breaker=breaker, retry=retry), state


async def charge(client: PaymentProvider, method: str, key: str = "order-1") -> str:
    return await client.charge(
        idempotency_key=key, amount_minor=1250, currency="EUR", payment_method=method
    )


async def test_success_and_replay_charge_once() -> None:
    client, state = provider()
    first = await charge(client, "pm_card_visa")
    assert first.startswith("pi_")
    assert await charge(client, "pm_card_visa") == first
    assert state.charges["order-1"] == 1


async def test_transient_failures_are_retried_until_success() -> None:
    client, state = provider(attempts=3)
    assert (await charge(client, "pm_card_flaky_2")).startswith("pi_")
    assert state.attempts["order-1"] == 3
    assert state.charges["order-1"] == 1


async def test_transient_failures_beyond_the_retries_are_unavailable() -> None:
    client, state = provider(attempts=3)
    with pytest.raises(PaymentUnavailable):
        await charge(client, "pm_card_flaky_5")
    assert state.attempts["order-1"] == 3
    assert state.charges == {}


async def test_a_decline_is_final_and_not_retried() -> None:
    client, state = provider()
    with pytest.raises(PaymentDeclined):
        await charge(client, "pm_card_chargeDeclined")
    assert state.attempts["order-1"] == 1
    assert client.breaker.state is BreakerState.CLOSED


async def test_same_key_other_amount_is_rejected() -> None:
    client, _ = provider()
    await charge(client, "pm_card_visa")
    with pytest.raises(PaymentRejected):
        await client.charge(
            idempotency_key="order-1", amount_minor=1, currency="EUR", payment_method="pm_card_visa"
        )


async def test_breaker_opens_and_then_fails_fast() -> None:
    client, state = provider(attempts=2, threshold=4)
    state.down = True
    for n in range(2):
        with pytest.raises(PaymentUnavailable):
            await charge(client, "pm_card_visa", key=f"k{n}")
    assert client.breaker.state is BreakerState.OPEN
    before = state.requests
    with pytest.raises(PaymentUnavailable) as caught:
        await charge(client, "pm_card_visa", key="k9")
    assert state.requests == before  # failed fast: the provider was not called
    assert caught.value.retry_after is not None


async def test_refund() -> None:
    client, state = provider()
    reference = await charge(client, "pm_card_visa")
    refund = await client.refund(idempotency_key="r-1", reference=reference, amount_minor=1250)
    assert refund.startswith("re_")
    assert state.intents[reference]["status"] == "refunded"


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, b"<html>maintenance</html>", "text/html"),
        (200, b"[1, 2]", "application/json"),
        (200, b'{"object": "payment_intent"}', "application/json"),  # no id
        (200, b"\xff\xfe", "application/json"),
        (302, b"", "text/plain"),
    ],
)
async def test_an_unreadable_answer_is_retried_then_unavailable(
    status: int, body: bytes, content_type: str
) -> None:
    # It used to raise JSONDecodeError, KeyError or AttributeError: a 500 from the API.
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Idempotency-Key"])
        return httpx.Response(status, content=body, headers={"Content-Type": content_type})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://provider")
    breaker = CircuitBreaker("payments", failure_threshold=10, reset_timeout=60)
    retry = RetryPolicy(attempts=3, initial_backoff=0.001, max_backoff=0.002)
    client = PaymentProvider(http, breaker=breaker, retry=retry)
    with pytest.raises(PaymentUnavailable):
        await charge(client, "pm_card_visa")
    assert calls == ["order-1"] * 3  # retried with the same key: it charges at most once


async def test_a_decline_without_a_readable_body_is_still_a_decline() -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(402, content=b"nope")),
        base_url="http://provider",
    )
    breaker = CircuitBreaker("payments", failure_threshold=10, reset_timeout=60)
    client = PaymentProvider(http, breaker=breaker, retry=RetryPolicy(attempts=1))
    with pytest.raises(PaymentDeclined, match="declined"):
        await charge(client, "pm_card_visa")
