"""Edges that need real processes: a rate-limit budget shared through Redis by two API
processes, metrics summed over two workers, and a graceful shutdown mid-request."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.databases import unavailable
from tests.processes import (
    ORDERLY,
    Process,
    clean_env,
    free_port,
    start_fake_provider,
    start_orderly,
)
from tests.services import ServiceSettings


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The test Redis, with a key prefix of this run's own, removed afterwards."""
    url = ServiceSettings().redis_url
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {url}", error)
    yield url
    client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"orderly-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.slow  # scale-out (two API processes): make test-all
def test_two_processes_share_one_login_budget_in_redis(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = {
        "ORDERLY_REDIS_URL": redis_url,
        "ORDERLY_REDIS_KEY_PREFIX": redis_prefix,
        "ORDERLY_SEED_DEMO_DATA": "false",
    }
    first = start_orderly(tmp_path, **settings)
    second = start_orderly(tmp_path, **settings)
    try:
        assert httpx.get(f"{first.base}/health/ready").json()["checks"]["redis"]["status"] == "ok"
        form = {"username": "nobody@example.com", "password": "wrong-password-1"}
        codes = [
            httpx.post(f"{server.base}/api/v1/auth/token", data=form, timeout=10).status_code
            for server in (first, first, first, second, second, second)
        ]
    finally:
        first.stop()
        second.stop()
    assert codes == [401] * 5 + [429]
    keys = redis.Redis.from_url(redis_url).keys(f"{redis_prefix}*")
    assert keys  # the budget lived in Redis under this run's prefix


@pytest.mark.slow  # scale-out (two API processes): make test-all
def test_metrics_are_summed_over_two_workers(tmp_path: Path) -> None:
    port = free_port()
    server = Process(
        [str(ORDERLY), "serve", "--workers", "2"],
        workdir=tmp_path,
        env=clean_env(ORDERLY_PORT=str(port), ORDERLY_SEED_DEMO_DATA="false"),
        port=port,
        ready_path="/health/ready",
    )
    try:
        server.wait_ready()
        for _ in range(30):
            httpx.get(f"{server.base}/health/live", timeout=5)
        scrapes = [httpx.get(f"{server.base}/metrics", timeout=5).text for _ in range(4)]
    finally:
        server.stop()
    pattern = re.compile(
        r'orderly_http_requests_total\{method="GET",route="/health/live",status="200"\} (\S+)'
    )
    counts = {float(match.group(1)) for text in scrapes if (match := pattern.search(text))}
    assert counts == {30.0}  # every scrape, whichever worker answers it, sees all 30


async def test_shutdown_waits_for_the_request_in_flight(tmp_path: Path) -> None:
    provider = start_fake_provider(tmp_path, "--latency-ms", "1500")
    server = start_orderly(
        tmp_path,
        ORDERLY_PAYMENT_PROVIDER_URL=provider.base,
        ORDERLY_ADMIN_PASSWORD="long-pass-phrase-42",
    )
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            creds = {"email": "late@example.com", "password": "a-long-passphrase"}
            await http.post("/api/v1/auth/register", json={**creds, "full_name": "Late"})
            token = (
                await http.post(
                    "/api/v1/auth/token",
                    data={"username": creds["email"], "password": creds["password"]},
                )
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            item = (await http.get("/api/v1/items", params={"in_stock": True})).json()["items"][0]
            order = (
                await http.post(
                    "/api/v1/orders",
                    json={
                        "lines": [{"item_id": item["id"], "quantity": 1}],
                        "payment_method": "pm_card_visa",
                    },
                    headers=auth,
                )
            ).json()
            paying = asyncio.create_task(
                http.post(f"/api/v1/orders/{order['id']}/pay", headers=auth)
            )
            await asyncio.sleep(0.5)  # the charge is now waiting on the slow provider
            server.process.send_signal(signal.SIGTERM)
            response = await paying
        exit_code = await asyncio.to_thread(server.process.wait, 30)
    finally:
        server.stop()
        provider.stop()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"
    # uvicorn drains, then re-raises the signal it caught, as process supervisors expect
    assert exit_code in {0, -signal.SIGTERM}
