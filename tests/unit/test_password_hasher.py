"""Password hashing is bounded: at most the configured number of argon2 hashes at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from orderly.core.security import PasswordHasher


async def test_no_more_hashes_at_once_than_its_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(concurrency=2)
    stored = await hasher.hash("a-long-passphrase")
    running, most = 0, 0
    lock = threading.Lock()
    verify = hasher._hash.verify

    def counted(password: str, target: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return verify(password, target)

    monkeypatch.setattr(hasher._hash, "verify", counted)
    answers = await asyncio.gather(*(hasher.verify("a-long-passphrase", stored) for _ in range(8)))
    assert answers == [True] * 8
    assert most == 2
    assert not await hasher.verify("a-long-passphrase", None)  # unknown account: same work
