"""ConnectionGate: bounded, first come first served, and never loses a slot."""

from __future__ import annotations

import asyncio

import pytest

from orderly.core.gate import ConnectionGate, DatabaseBusy


async def test_slots_go_to_waiters_in_arrival_order() -> None:
    gate = ConnectionGate(1, timeout=5)
    await gate.acquire()
    served: list[int] = []

    async def wait(n: int) -> None:
        await gate.acquire()
        served.append(n)
        await asyncio.sleep(0)
        gate.release()

    waiters = [asyncio.create_task(wait(n)) for n in range(5)]
    await asyncio.sleep(0.01)
    assert gate.waiting == 5
    gate.release()
    # A newcomer arriving while others wait queues behind them instead of barging in.
    late = asyncio.create_task(wait(99))
    await asyncio.wait_for(asyncio.gather(*waiters, late), timeout=5)
    assert served == [0, 1, 2, 3, 4, 99]
    await gate.acquire()  # the slot came back
    gate.release()


async def test_a_wait_past_the_timeout_is_a_503_domain_error() -> None:
    gate = ConnectionGate(1, timeout=0.05)
    await gate.acquire()
    with pytest.raises(DatabaseBusy) as raised:
        await gate.acquire()
    assert raised.value.retry_after == 1
    assert gate.waiting == 0
    gate.release()
    await asyncio.wait_for(gate.acquire(), timeout=1)  # the timed-out waiter took nothing


async def test_a_cancelled_waiter_gives_up_its_place_without_losing_the_slot() -> None:
    gate = ConnectionGate(1, timeout=5)
    await gate.acquire()
    cancelled = asyncio.create_task(gate.acquire())
    behind = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    gate.release()
    await asyncio.wait_for(behind, timeout=1)  # the slot skipped the cancelled waiter
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.release()
    await asyncio.wait_for(gate.acquire(), timeout=1)


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ConnectionGate(0, timeout=1)
