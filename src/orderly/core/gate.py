"""First come, first served admission to the connection pool.

SQLAlchemy's async pool hands connections out through an ``asyncio.Queue``, which lets a
newcomer take a connection that was just returned before the task woken for it runs. With
more requests in flight than connections, some requests lose that race again and again:
under the benchmark's load, single-row reads waited seconds for a connection.
The gate admits at most as many units of work as the pool keeps connections and hands a
released slot straight to the longest waiter, so the pool itself is never contended.
"""

from __future__ import annotations

import asyncio
from collections import deque

from orderly.core.errors import Unavailable


class DatabaseBusy(Unavailable):
    code = "database-busy"


class ConnectionGate:
    def __init__(self, slots: int, *, timeout: float) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._free = slots
        self._timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self) -> None:
        """Take a slot, waiting in line; ``DatabaseBusy`` (503) after ``timeout`` seconds."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot arrived as we gave up: pass it on
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise DatabaseBusy(
                    "Every database connection is busy; retry shortly", retry_after=1
                ) from exc
            raise

    def release(self) -> None:
        """Hand the slot to the longest waiter still waiting, or put it back."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
