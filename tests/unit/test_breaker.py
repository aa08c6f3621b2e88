"""The circuit breaker's states on a hand-driven clock."""

from __future__ import annotations

import pytest

from orderly.integrations.breaker import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state read afresh: mypy keeps ``breaker.state`` narrowed by an earlier assert
    across the calls that change it, as if a property could not."""
    return breaker.state


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("peer", failure_threshold=3, reset_timeout=10, clock=clock)


def test_opens_after_consecutive_failures(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == pytest.approx(10)


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED


def test_half_open_admits_one_trial(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert state_of(breaker) is BreakerState.HALF_OPEN
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # others still fail fast while the trial runs
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.before_call()


def test_failed_trial_reopens_for_a_full_cool_down(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 9.9
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 0.1
    assert state_of(breaker) is BreakerState.HALF_OPEN
