"""A bounded in-process store of whole responses (bytes), least recently used out first.

Keys start with the store's ``generation``, which every invalidation advances (and the
entries are dropped): an answer computed from rows read before a change can never be stored
under the generation that follows it. A miss is computed once per key however many requests
ask for it meanwhile (``leader``/``follow``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

LOOKUPS = Counter(
    "orderly_catalog_cache_requests_total",
    "Catalog reads by how the cache answered: hit, miss (computed), coalesced (waited for "
    "another request's computation), bypass (not cacheable: authenticated, or no listener)",
    ["result"],
)
HIT, MISS, COALESCED, BYPASS = (LOOKUPS.labels(r) for r in ("hit", "miss", "coalesced", "bypass"))
EVICTIONS = Counter(
    "orderly_catalog_cache_evictions_total", "Entries dropped to stay within the size limits"
)
INVALIDATIONS = Counter(
    "orderly_catalog_cache_invalidations_total",
    "Times the whole cache was dropped, by reason: change (committed here), remote, "
    "subscribed, resubscribed, disconnected (the listener)",
    ["reason"],
)
ENTRIES = Gauge("orderly_catalog_cache_entries", "Responses held", multiprocess_mode="livesum")
BYTES = Gauge(
    "orderly_catalog_cache_bytes", "Bytes of the responses held", multiprocess_mode="livesum"
)

Key = tuple[int, str, str]  # generation, path, normalized query


@dataclass(slots=True, frozen=True)
class CachedResponse:
    headers: list[tuple[bytes, bytes]]  # of the 200, ETag and Cache-Control included
    not_modified: list[tuple[bytes, bytes]]  # of a 304: ETag, Cache-Control, Vary
    body: bytes
    etag: bytes
    route: str  # the route template, for the metrics and the access log
    stored_at: float

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(n) + len(v) for n, v in self.headers)


class ResponseCache:
    def __init__(self, *, max_entries: int, max_bytes: int, ttl: float) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.generation = 0
        self.serving = False  # until the lifespan binds a trusted catalog version
        self._entries: OrderedDict[Key, CachedResponse] = OrderedDict()
        self._bytes = 0
        self._pending: dict[Key, asyncio.Future[CachedResponse | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, path: str, query: str) -> Key:
        return (self.generation, path, query)

    def get(self, key: Key) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry.stored_at > self.ttl:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: CachedResponse) -> None:
        """Keep ``entry`` if it is still current and fits; evict the least recently used."""
        size = entry.size
        if key[0] != self.generation or not self.serving or size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
            EVICTIONS.inc()
        self._gauge()

    def _drop(self, key: Key) -> None:
        self._bytes -= self._entries.pop(key).size
        self._gauge()

    def _gauge(self) -> None:
        ENTRIES.set(len(self._entries))
        BYTES.set(self._bytes)

    def invalidate(self, reason: str) -> None:
        self.generation += 1
        self._entries.clear()
        self._bytes = 0
        self._gauge()
        INVALIDATIONS.labels(reason).inc()

    # -- one computation per key -----------------------------------------------------------

    def follow(self, key: Key) -> asyncio.Future[CachedResponse | None] | None:
        """The computation of ``key`` under way, if any, to wait for (``asyncio.shield`` it:
        a waiter that goes away must not cancel it for the others)."""
        return self._pending.get(key)

    def lead(self, key: Key) -> asyncio.Future[CachedResponse | None]:
        future: asyncio.Future[CachedResponse | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    def done(
        self, key: Key, future: asyncio.Future[CachedResponse | None], entry: CachedResponse | None
    ) -> None:
        """The leader's result (None: not cacheable, or it failed: the waiters compute their
        own answers); stored if cacheable."""
        self._pending.pop(key, None)
        if entry is not None:
            self.put(key, entry)
        if not future.done():
            future.set_result(entry)
