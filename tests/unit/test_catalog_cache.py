"""The catalog cache layer over a small ASGI app that counts its calls: validators and 304s,
what is never stored, the size limits, and one computation per key however many wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.types import Receive, Scope, Send

from orderly.api.catalog_cache import CatalogCacheMiddleware, etag_matches, normalized_query
from orderly.api.response_cache import CachedResponse, ResponseCache
from orderly.events.catalog_version import CatalogVersion


class Catalog:
    """Answers ``/api/v1/items...`` with a body naming the path and query, as told."""

    def __init__(self) -> None:
        self.calls = 0
        self.status = 200
        self.release = asyncio.Event()
        self.release.set()
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self.price = 100

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = f'{{"path":"{scope["path"]}","price":{self.price}}}'.encode()  # rows read
        await self.release.wait()
        headers = [(b"content-type", b"application/json"), *self.extra_headers]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def cache() -> ResponseCache:
    store = ResponseCache(max_entries=100, max_bytes=1_000_000, ttl=60)
    store.serving = True
    return store


@pytest.fixture
async def http(catalog: Catalog, cache: ResponseCache) -> AsyncIterator[httpx.AsyncClient]:
    app = CatalogCacheMiddleware(catalog, cache=cache, max_age=5, stale_while_revalidate=10)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


ITEMS = "/api/v1/items"


async def test_a_second_read_is_served_from_memory_with_validators(
    http: httpx.AsyncClient, catalog: Catalog
) -> None:
    first = await http.get(ITEMS, params={"limit": 20})
    second = await http.get(ITEMS, params={"limit": 20})
    assert catalog.calls == 1
    assert first.content == second.content
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert not etag.startswith("W/")
    assert second.headers["etag"] == etag
    assert first.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=10"
    assert first.headers["vary"] == "Accept, X-API-Version"
    assert first.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', '"a", W/{etag} , "b"', "*", " * "],
)
async def test_if_none_match_that_matches_answers_304_with_validators(
    http: httpx.AsyncClient, if_none_match: str
) -> None:
    etag = (await http.get(ITEMS)).headers["etag"]
    answer = await http.get(ITEMS, headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert answer.status_code == 304
    assert answer.content == b""
    assert answer.headers["etag"] == etag
    assert answer.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=10"
    assert answer.headers["vary"] == "Accept, X-API-Version"
    assert "content-type" not in answer.headers


@pytest.mark.parametrize("if_none_match", ['"other"', 'W/"other"', "garbage", '"a", "b"', ""])
async def test_if_none_match_that_does_not_match_answers_200(
    http: httpx.AsyncClient, if_none_match: str
) -> None:
    await http.get(ITEMS)
    answer = await http.get(ITEMS, headers={"If-None-Match": if_none_match})
    assert answer.status_code == 200
    assert answer.json()["path"] == ITEMS


async def test_a_miss_with_a_matching_validator_is_a_304_too(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache
) -> None:
    etag = (await http.get(ITEMS)).headers["etag"]
    cache.invalidate("change")  # same bytes computed again: same ETag
    answer = await http.get(ITEMS, headers={"If-None-Match": etag})
    assert (answer.status_code, catalog.calls) == (304, 2)


def test_etag_comparison_is_weak_and_reads_lists() -> None:
    assert etag_matches(b'W/"x"', b'"x"')
    assert etag_matches(b'"y","x"', b'"x"')
    assert etag_matches(b'"a,b", "x"', b'"x"')  # a comma inside a tag is not a separator
    assert not etag_matches(b'"a,x"', b'"x"')
    assert not etag_matches(b"x", b'"x"')  # an unquoted tag is not an entity tag


def test_queries_that_mean_the_same_share_a_key() -> None:
    assert normalized_query(b"limit=20&offset=0") == normalized_query(b"offset=0&limit=20")
    assert normalized_query(b"q=a%20b") == normalized_query(b"q=a+b")
    assert normalized_query(b"x=1&x=2") != normalized_query(b"x=2&x=1")  # repeats keep order


async def test_equivalent_queries_are_one_entry(http: httpx.AsyncClient, catalog: Catalog) -> None:
    await http.get(ITEMS + "?limit=20&offset=0")
    await http.get(ITEMS + "?offset=0&limit=20")
    await http.get(ITEMS + "?limit=21&offset=0")
    assert catalog.calls == 2


@pytest.mark.parametrize("status", [404, 422, 500, 503])
async def test_errors_are_never_stored(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache, status: int
) -> None:
    catalog.status = status
    for _ in range(3):
        answer = await http.get(ITEMS + "/nope")
        assert answer.status_code == status
        assert "etag" not in answer.headers
        assert "cache-control" not in answer.headers
    assert (catalog.calls, len(cache)) == (3, 0)


async def test_answers_that_set_cookies_are_not_stored(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache
) -> None:
    catalog.extra_headers = [(b"set-cookie", b"a=b")]
    await http.get(ITEMS)
    await http.get(ITEMS)
    assert (catalog.calls, len(cache)) == (2, 0)


async def test_authorized_requests_pass_by(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache
) -> None:
    await http.get(ITEMS)
    answer = await http.get(ITEMS, headers={"Authorization": "Bearer x", "If-None-Match": "*"})
    assert answer.status_code == 200
    assert "etag" not in answer.headers
    assert catalog.calls == 2


@pytest.mark.parametrize(
    "path", ["/api/v1/orders", "/api/v1/items/1/stock", "/api/v3/items", "/metrics"]
)
async def test_other_paths_and_methods_pass_by(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache, path: str
) -> None:
    await http.get(path)
    await http.get(path)
    await http.post(ITEMS)
    assert (catalog.calls, len(cache)) == (3, 0)


async def test_nothing_is_served_while_changes_could_go_unheard(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache
) -> None:
    cache.serving = False  # e.g. the Redis listener is reconnecting
    await http.get(ITEMS)
    await http.get(ITEMS)
    assert (catalog.calls, len(cache)) == (2, 0)


async def test_concurrent_misses_compute_once(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache
) -> None:
    catalog.release.clear()
    waiting = [asyncio.create_task(http.get(ITEMS, params={"limit": 5})) for _ in range(20)]
    await asyncio.sleep(0.05)
    catalog.release.set()
    answers = await asyncio.gather(*waiting)
    assert catalog.calls == 1
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1


async def test_waiters_of_a_failed_computation_compute_their_own(
    http: httpx.AsyncClient, catalog: Catalog
) -> None:
    catalog.release.clear()
    catalog.status = 503
    waiting = [asyncio.create_task(http.get(ITEMS)) for _ in range(5)]
    await asyncio.sleep(0.05)
    catalog.release.set()
    answers = await asyncio.gather(*waiting)
    assert [a.status_code for a in answers] == [503] * 5
    assert catalog.calls == 5


async def test_a_page_read_before_a_change_is_not_kept_after_it(
    http: httpx.AsyncClient, catalog: Catalog, cache: ResponseCache
) -> None:
    catalog.release.clear()
    reading = asyncio.create_task(http.get(ITEMS))
    await asyncio.sleep(0.05)
    catalog.price = 200  # committed while the old page was being computed
    cache.invalidate("change")
    catalog.release.set()
    assert (await reading).json()["price"] == 100  # that reader saw the old rows...
    assert (await http.get(ITEMS)).json()["price"] == 200  # ...but did not store them
    assert catalog.calls == 2


def entry(size: int, at: float | None = None) -> CachedResponse:
    return CachedResponse([], [], b"x" * size, b'"e"', "/r", time.monotonic() if at is None else at)


def test_the_least_recently_used_entries_go_first() -> None:
    store = ResponseCache(max_entries=2, max_bytes=10_000, ttl=60)
    store.serving = True
    a, b, c = (store.key(p, "") for p in ("/a", "/b", "/c"))
    store.put(a, entry(10))
    store.put(b, entry(10))
    assert store.get(a) is not None  # a is now the most recently used
    store.put(c, entry(10))
    assert (store.get(a) is not None, store.get(b), store.get(c) is not None) == (True, None, True)


def test_the_byte_limit_holds() -> None:
    store = ResponseCache(max_entries=100, max_bytes=250, ttl=60)
    store.serving = True
    for n in range(10):
        store.put(store.key(f"/{n}", ""), entry(100))
    assert len(store) == 2
    store.put(store.key("/big", ""), entry(300))  # larger than the whole store: not kept
    assert store.get(store.key("/big", "")) is None
    assert len(store) == 2


def test_entries_expire_after_the_ttl() -> None:
    store = ResponseCache(max_entries=10, max_bytes=10_000, ttl=5)
    store.serving = True
    store.put(store.key("/old", ""), entry(1, at=time.monotonic() - 6))
    store.put(store.key("/new", ""), entry(1))
    assert store.get(store.key("/old", "")) is None
    assert store.get(store.key("/new", "")) is not None
    assert len(store) == 1


class FlakyRedis:
    """INCR fails ``failures`` times with a connection error, then works; PUBLISH records."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.version = 0
        self.published: list[tuple[str, str]] = []

    async def incr(self, key: str) -> int:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Connection closed by server.")
        self.version += 1
        return self.version

    async def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, message))


@pytest.mark.parametrize(("failures", "published"), [(0, 1), (1, 1), (5, 0)])
async def test_a_change_drops_this_process_pages_even_when_redis_is_away(
    failures: int, published: int
) -> None:
    redis = FlakyRedis(failures)
    version = CatalogVersion(redis=redis, prefix="t")  # type: ignore[arg-type]
    told: list[str] = []
    version.watch(told.append)
    await version.advance()  # never raises: the change is committed already
    assert told == ["change"]
    assert len(redis.published) == published
    if published:
        assert redis.published[0][0] == "t:catalog"
        version.heard(redis.published[0][1].encode())  # its own message is not news
        assert told == ["change"]
        version.heard(b"7 another-process")
        assert told == ["change", "remote"]
