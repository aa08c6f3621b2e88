"""Scale-out on shared PostgreSQL and Redis, with real processes: two APIs, two relays, two
Celery workers and beat, the fake payment provider and an SMTP sink. 300 orders from 20
customers spread over both APIs are each paid once and mailed once, stock is conserved, the
outbox drains; beat expires an unpaid order and the sales-report chain runs on the workers."""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import query
from tests.metrics import sample, scrape_url
from tests.processes import (
    ORDERLY,
    Process,
    Stack,
    clean_env,
    eventually,
    free_port,
    make_item,
    received,
)
from tests.services import ServiceSettings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CUSTOMERS = 20
ORDERS = 300
STOCK = 200  # per item, five items: more than 300 orders of at most 3 can take
PRICE = 2999  # make_item's price, minor units
PASSWORD = "a-long-passphrase"
JOB_PROCESSES = ("relay-1", "relay-2", "worker-1", "worker-2", "beat")
PAID_EVENTS = """SELECT count(*) n, count(DISTINCT payload->>'order_id') orders
                 FROM outbox WHERE event_type = 'OrderPaid'"""


def statuses(url: str) -> dict[str, int]:
    rows = query(url, "SELECT status, count(*) n FROM orders GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


def stock_taken(url: str, items: list[str]) -> int:
    ids = ", ".join(f"'{item}'" for item in items)  # uuids we made
    [row] = query(url, f"SELECT sum(stock) s FROM items WHERE id IN ({ids})")  # noqa: S608
    return STOCK * len(items) - int(row["s"])


def confirmations(mail: Path) -> Counter[str]:
    """Order id -> confirmation mails received ("Your order <id> is paid")."""
    subjects = [str(m["Subject"]) for m in received(mail)]
    return Counter(s.split()[2] for s in subjects if s.endswith(" is paid"))


def place_orders(
    apis: list[Process], customers: list[dict[str, str]], items: list[str]
) -> list[dict[str, Any]]:
    """300 orders, customer i always through API i % 2, 16 at a time."""
    rng = random.Random(16)
    plan = [(n % CUSTOMERS, rng.choice(items), rng.randint(1, 3)) for n in range(ORDERS)]
    clients = [httpx.Client(base_url=api.base, timeout=60) for api in apis]

    def place(step: tuple[int, str, int]) -> dict[str, Any]:
        who, item, quantity = step
        body = {
            "lines": [{"item_id": item, "quantity": quantity}],
            "payment_method": "pm_card_visa",
        }
        headers = {"Authorization": customers[who]["Authorization"]}
        answer = clients[who % 2].post("/api/v1/orders", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return {"id": answer.json()["id"], "quantity": quantity, "api": who % 2}

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(place, plan))
    finally:
        for client in clients:
            client.close()


def check_each_order_paid_and_mailed_once(
    stack: Stack, url: str, placed: list[dict[str, Any]], items: list[str]
) -> None:
    assert statuses(url) == {"paid": ORDERS}
    charges = httpx.get(f"{stack.provider.base}/_stats", timeout=10).json()["charges"]
    assert charges == {f"order-{order['id']}-charge": 1 for order in placed}
    assert stock_taken(url, items) == sum(order["quantity"] for order in placed)
    eventually(lambda: len(confirmations(stack.mail)) == ORDERS, "every confirmation", 120)
    assert confirmations(stack.mail) == Counter({order["id"]: 1 for order in placed})
    # no event handled twice: one OrderPaid per order, every mail from a distinct event
    [paid] = query(url, PAID_EVENTS)
    assert (paid["n"], paid["orders"]) == (ORDERS, ORDERS)
    message_ids = [m["Message-ID"] for m in received(stack.mail)]
    assert len(message_ids) == len(set(message_ids))
    eventually(
        lambda: not query(url, "SELECT id FROM outbox WHERE handled_at IS NULL"),
        "every event handled and acknowledged by a worker",
    )


def check_beat_expires_an_unpaid_order(
    stack: Stack, url: str, customer: dict[str, str], items: list[str], jobs: list[Process]
) -> None:
    """Workers and beat restart (as in a release) with a payment timeout of 3 s."""
    taken = stock_taken(url, items)
    for process in jobs:
        process.stop()
    short = {"ORDERLY_ORDER_PAYMENT_TIMEOUT": "3", "ORDERLY_ORDER_EXPIRY_INTERVAL": "1"}
    stack.start_worker(extra=short)
    stack.start_worker(extra=short)
    stack.start_beat(extra=short)
    unpaid = httpx.post(
        f"{stack.api.base}/api/v1/orders",
        json={"lines": [{"item_id": items[0], "quantity": 2}]},
        headers={"Authorization": customer["Authorization"]},
        timeout=30,
    ).json()["id"]
    eventually(lambda: stack.status(customer, unpaid) == "expired", "beat to expire it", 60)
    assert stock_taken(url, items) == taken  # its 2 came back


def check_the_sales_report(stack: Stack, apis: list[Process], placed: list[dict[str, Any]]) -> None:
    admin = "ops@example.com"
    subprocess.run(  # noqa: S603 - our own entry point
        [str(ORDERLY), "create-admin", "--email", admin, "--password", PASSWORD],
        env=clean_env(**stack.settings),
        cwd=stack.workdir,
        check=True,
        capture_output=True,
        timeout=60,
    )
    login = {"username": admin, "password": PASSWORD}
    token = httpx.post(f"{apis[0].base}/api/v1/auth/token", data=login, timeout=30).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    asked = httpx.post(
        f"{apis[0].base}/api/v1/reports/sales",
        json={"from": today, "to": today},
        headers=auth,
        timeout=30,
    )
    assert asked.status_code == 202, asked.text

    def succeeded() -> dict[str, Any] | None:  # asked on one API, followed on the other
        body: dict[str, Any] = httpx.get(
            apis[1].base + asked.headers["location"], headers=auth, timeout=30
        ).json()
        return body if body["status"] == "succeeded" else None

    report = eventually(succeeded, "the sales report", 60)
    csv_text = httpx.get(apis[1].base + report["download_url"], headers=auth, timeout=30).text
    units = sum(order["quantity"] for order in placed)
    revenue = f"{units * PRICE // 100}.{units * PRICE % 100:02d}"
    assert csv_text.splitlines()[1:] == [f"{today},EUR,{ORDERS},{units},{revenue}"]
    eventually(
        lambda: [m for m in received(stack.mail) if m["To"] == admin and "report" in m["Subject"]],
        "the report mail",
    )


def check_the_job_processes_metrics(url: str, ports: dict[str, int]) -> None:
    """Each relay, worker and beat serves /metrics: between them every outbox event handed
    on once and handled, every payment timed where it ran; the relays sample an empty
    backlog. (Counters move just after the database: read them until they have.)"""
    [events] = query(url, "SELECT count(*) n FROM outbox")

    def scrape_all() -> dict[str, str]:
        return {
            name: scrape_url(f"http://127.0.0.1:{port}/metrics") for name, port in ports.items()
        }

    def counted() -> bool:
        text = scrape_all()
        relayed = "orderly_outbox_relayed_total"
        handed_on = sum(sample(t, relayed, outcome="delivered") for t in text.values())
        workers = [text["worker-1"], text["worker-2"]]
        handled = sum(
            sample(t, "orderly_tasks_total", task="orderly.handle_event", outcome="SUCCESS")
            for t in workers
        )
        timed = "orderly_payment_provider_duration_seconds_count"
        charges = sum(sample(t, timed, operation="payment_intents", outcome="ok") for t in workers)
        # handed on once (by the relays, or a worker's outbox sweep); handled at least once
        return handed_on == events["n"] and handled >= events["n"] and charges == ORDERS

    eventually(counted, "the relays' and workers' counters to show every event and charge", 30)
    beat = scrape_all()["beat"]
    assert "orderly_tasks_published_total{" in beat, "beat published no scheduled task"

    def sampled_empty(address: str) -> bool:  # sampled every second
        body = scrape_url(address)
        return "orderly_outbox_pending 0.0" in body and "orderly_outbox_lag_seconds 0.0" in body

    for name in ("relay-1", "relay-2"):
        address = f"http://127.0.0.1:{ports[name]}/metrics"
        eventually(partial(sampled_empty, address), f"{name} to sample an empty outbox", 30)


def test_two_of_everything_pay_each_order_once(
    tmp_path: Path, postgres_url: str, redis_broker: dict[str, str]
) -> None:
    started = time.monotonic()
    settings = {
        "ORDERLY_DATABASE_URL": postgres_url,
        **redis_broker,
        "ORDERLY_REDIS_URL": ServiceSettings().redis_url,  # rate limits shared by both APIs
        "ORDERLY_SECRET_KEY": "scale-out-secret-key-0123456789-abcdefghij",
        "ORDERLY_RATE_LIMIT_REGISTER": "1000/minute",
        "ORDERLY_RATE_LIMIT_LOGIN": "1000/minute",
        "ORDERLY_DATABASE_POOL_SIZE": "4",
        "ORDERLY_DATABASE_MAX_OVERFLOW": "2",
    }
    stack = Stack(tmp_path, settings)  # SMTP sink, provider, API, relay, worker
    try:
        apis = [stack.api, stack.start_api()]
        stack.relay.stop()  # relays, workers and beat serving /metrics instead
        stack.worker.stop()
        ports = {name: free_port() for name in JOB_PROCESSES}
        for name in ("relay-1", "relay-2"):
            stack.start_relay(metrics_port=ports[name])
        jobs = [
            stack.start_worker(metrics_port=ports["worker-1"]),
            stack.start_worker(concurrency=2, metrics_port=ports["worker-2"]),
            stack.start_beat(metrics_port=ports["beat"]),
        ]
        items = [make_item(postgres_url, stock=STOCK) for _ in range(5)]
        customers = [stack.customer(apis[n % 2]) for n in range(CUSTOMERS)]
        placed = place_orders(apis, customers, items)
        placed_at = time.monotonic()
        eventually(lambda: statuses(postgres_url).get("paid") == ORDERS, "all paid", 240)
        paid_at = time.monotonic()
        check_each_order_paid_and_mailed_once(stack, postgres_url, placed, items)

        # each API served its half and says so in its own /metrics
        for n, api in enumerate(apis):
            text = httpx.get(f"{api.base}/metrics", timeout=10).text
            served = sum(order["api"] == n for order in placed)
            assert sample(text, "orderly_orders_total", event="placed") == served
            assert sample(text, "orderly_outbox_pending") == 0
        check_the_job_processes_metrics(postgres_url, ports)

        check_beat_expires_an_unpaid_order(stack, postgres_url, customers[0], items, jobs)
        check_the_sales_report(stack, apis, placed)
    finally:
        stack.stop()
    print(  # figures for the README (pytest -s shows them)
        f"\nscale-out: {ORDERS} orders placed {placed_at - started:.1f} s after the start, "
        f"all paid {paid_at - placed_at:.1f} s later; {time.monotonic() - started:.1f} s in all"
    )
