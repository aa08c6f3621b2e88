"""Fault injection for the end-to-end suites: the machine's servers stopped and started again
(always, even when the test fails), order traffic that records every answer, and the invariant
checker that compares the database with the payment provider's own records, the SMTP sink and
the outbox. Every wait and every loop is bounded in count and time."""

from __future__ import annotations

import glob
import random
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.databases import query
from tests.processes import Process, Stack, received

# Statuses as orderly's model defines them (models/order.py): which hold stock, which keep money
HOLDS_STOCK = {"pending_payment", "paid", "cancelling", "fulfilled"}
CHARGED = {"paid", "cancelling", "fulfilled"}


# -- the machine's servers -------------------------------------------------------------------


def _run(*args: str, timeout: float = 90) -> None:
    subprocess.run(list(args), check=False, capture_output=True, timeout=timeout)  # noqa: S603


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _postgres_version() -> str:
    return sorted(Path(p).name for p in glob.glob("/etc/postgresql/*"))[-1]


def _postgres_ready() -> bool:
    probe = subprocess.run(  # noqa: S603
        [shutil.which("pg_isready") or "pg_isready", "-h", "127.0.0.1", "-q"],
        check=False,
        timeout=10,
    )
    return probe.returncode == 0


def stop_service(name: str) -> None:
    if name == "postgres":
        _run("pg_ctlcluster", "--skip-systemctl-redirect", _postgres_version(), "main", "stop",
             "-m", "fast")  # fmt: skip
    elif name == "redis":
        _run("redis-cli", "-p", "6379", "shutdown", "nosave")
    elif name == "rabbitmq":
        _run("rabbitmqctl", "stop")
    else:
        raise ValueError(name)


def start_service(name: str, timeout: float = 90) -> None:
    """Start the server with the machine's own command and wait until it answers."""
    if name == "postgres":
        _run("pg_ctlcluster", "--skip-systemctl-redirect", _postgres_version(), "main", "start")
        ready = _postgres_ready
    elif name == "redis":
        _run("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port",
             "6379", "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
             "--logfile", "/var/log/redis/ci.log")  # fmt: skip
        ready = lambda: _port_open(6379)  # noqa: E731
    elif name == "rabbitmq":
        if not _port_open(5672):
            _run("rabbitmq-server", "-detached")
        _run("rabbitmqctl", "await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)
        ready = lambda: _port_open(5672)  # noqa: E731
    else:
        raise ValueError(name)
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not come back within {timeout}s")
        time.sleep(0.2)


@contextmanager
def outage(name: str) -> Iterator[float]:
    """The server is down inside the block; started again afterwards whatever happens. Yields
    the moment it went down (time.monotonic())."""
    stop_service(name)
    try:
        yield time.monotonic()
    finally:
        start_service(name)


# -- traffic that records every answer -------------------------------------------------------


@dataclass
class Answer:
    at: float
    what: str
    status: int  # 0: no answer (connection refused, timeout)
    retry_after: str | None = None
    problem: bool = False


@dataclass
class Traffic:
    """Customers placing orders and reading the catalog and their orders through the APIs,
    from a few threads, until ``stop()`` or a time or count limit."""

    apis: list[Process]
    customers: list[dict[str, str]]
    items: list[str]
    methods: tuple[str, ...] = ("pm_card_visa",)
    pause: float = 0.0  # seconds each thread waits between its requests
    answers: list[Answer] = field(default_factory=list)
    placed: dict[str, int] = field(default_factory=dict)  # order id -> quantity (201s)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, *, threads: int, seconds: float, max_requests: int = 20_000) -> None:
        deadline = time.monotonic() + seconds
        workers = [
            threading.Thread(target=self._loop, args=(n, deadline, max_requests // threads))
            for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=seconds + 120)

    def start(self, *, threads: int, seconds: float) -> threading.Thread:
        runner = threading.Thread(target=self.run, kwargs={"threads": threads, "seconds": seconds})
        runner.start()
        return runner

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, n: int, deadline: float, budget: int) -> None:
        rng = random.Random(n)
        clients = [httpx.Client(base_url=api.base, timeout=10) for api in self.apis]
        try:
            for step in range(budget):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                customer = self.customers[(n + step) % len(self.customers)]
                client = clients[step % len(clients)]
                if step % 3 == 0:
                    self._read(client, customer)
                else:
                    self._order(client, customer, rng)
                time.sleep(self.pause)
        finally:
            for client in clients:
                client.close()

    def _record(self, what: str, response: httpx.Response | None) -> None:
        answer = Answer(time.monotonic(), what, 0)
        if response is not None:
            answer.status = response.status_code
            answer.retry_after = response.headers.get("retry-after")
            answer.problem = response.headers.get("content-type", "").startswith(
                "application/problem+json"
            )
        with self._lock:
            self.answers.append(answer)

    def _read(self, client: httpx.Client, customer: dict[str, str]) -> None:
        try:
            response = client.get(
                "/api/v1/orders", headers={"Authorization": customer["Authorization"]}
            )
        except httpx.TransportError:
            response = None
        self._record("list", response)

    def _order(self, client: httpx.Client, customer: dict[str, str], rng: random.Random) -> None:
        quantity = rng.randint(1, 2)
        body = {
            "lines": [{"item_id": rng.choice(self.items), "quantity": quantity}],
            "payment_method": rng.choice(self.methods),
        }
        try:
            response = client.post(
                "/api/v1/orders", json=body, headers={"Authorization": customer["Authorization"]}
            )
        except httpx.TransportError:
            response = None
        self._record("order", response)
        if response is not None and response.status_code == 201:
            with self._lock:
                self.placed[response.json()["id"]] = quantity

    def statuses(self) -> Counter[int]:
        return Counter(answer.status for answer in self.answers)

    def server_errors(self) -> list[Answer]:
        """5xx answers that are not a clean 503 problem with Retry-After."""
        return [
            a
            for a in self.answers
            if a.status >= 500 and not (a.status == 503 and a.problem and a.retry_after)
        ]


# -- the invariant checker -------------------------------------------------------------------


@dataclass
class Findings:
    orders: Counter[str]
    charges: int
    refunds: int
    mails: int
    # confirmations sent again with their Message-ID (a worker stopped between sending and
    # recording it: at-least-once delivery, one message in the customer's mailbox)
    mails_resent: int
    redelivered: int  # events handed over again, no worker having acknowledged the first
    violations: list[str]


def check_invariants(
    stack: Stack, url: str, stock: dict[str, int], placed: dict[str, int]
) -> Findings:
    """Compare the database with the provider's records, the SMTP sink and the outbox; run it
    once the system has settled (no order still waiting for payment, the outbox drained)."""
    orders = {
        str(row["id"]): row for row in query(url, "SELECT id, status, total_minor FROM orders")
    }
    stats = httpx.get(f"{stack.provider.base}/_stats", timeout=10).json()
    charges: Counter[str] = Counter(stats["charges"])
    refunds: Counter[str] = Counter(stats["refunds"])
    paid_mails: dict[str, list[str]] = {}  # order id -> the Message-IDs of its confirmations
    for mail in received(stack.mail):
        if " is paid" in mail["Subject"]:
            order_id = str(mail["Subject"]).split()[2]
            paid_mails.setdefault(order_id, []).append(str(mail["Message-ID"]))
    [pending] = query(url, "SELECT count(*) n FROM outbox WHERE handled_at IS NULL")
    [again] = query(url, "SELECT count(*) n FROM outbox WHERE deliveries > 1")
    lost = sorted(set(placed) - set(orders))
    violations = [
        *([f"{len(lost)} orders answered 201 are not in the database: {lost[:3]}"] if lost else []),
        *_stock_and_totals(url, orders, stock),
        *_money(orders, charges, refunds),
        *_mails(orders, paid_mails),
        *([f"{pending['n']} outbox messages never handled"] if pending["n"] else []),
    ]
    return Findings(
        orders=Counter(str(o["status"]) for o in orders.values()),
        charges=sum(charges.values()),
        refunds=sum(refunds.values()),
        mails=len(paid_mails),
        mails_resent=sum(len(ids) - 1 for ids in paid_mails.values()),
        redelivered=int(again["n"]),
        violations=violations,
    )


def _stock_and_totals(
    url: str, orders: dict[str, asyncpg.Record], stock: dict[str, int]
) -> Iterator[str]:
    """Stock on hand + stock held by open orders = initial stock; totals = sum of lines."""
    lines = query(url, "SELECT order_id, item_id, quantity, unit_price_minor FROM order_lines")
    items = {str(row["id"]): row["stock"] for row in query(url, "SELECT id, stock FROM items")}
    held: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for line in lines:
        order_id = str(line["order_id"])
        totals[order_id] += line["quantity"] * line["unit_price_minor"]
        if orders[order_id]["status"] in HOLDS_STOCK:
            held[str(line["item_id"])] += line["quantity"]
    for item, initial in stock.items():
        if items[item] + held[item] != initial:
            yield f"item {item}: {items[item]} on hand + {held[item]} held != {initial} initial"
    for order_id, order in orders.items():
        if order["total_minor"] != totals[order_id]:
            yield f"order {order_id}: total {order['total_minor']} != {totals[order_id]} of lines"


def _money(
    orders: dict[str, asyncpg.Record], charges: Counter[str], refunds: Counter[str]
) -> Iterator[str]:
    """Each order that keeps money was charged exactly once, no other order keeps a charge,
    refunds never exceed charges, and the provider charged no order the database lacks."""
    for order_id, order in orders.items():
        charged = charges[f"order-{order_id}-charge"]
        refunded = refunds[f"order-{order_id}-refund"]
        kept = 1 if order["status"] in CHARGED else 0
        if charged > 1 or refunded > charged or charged - refunded != kept:
            yield f"order {order_id} is {order['status']}: {charged} charges, {refunded} refunds"
    unknown = [key for key in charges if key.removeprefix("order-")[:-7] not in orders]
    if unknown:
        yield f"charges for orders the database does not have: {unknown[:3]}"


def _mails(orders: dict[str, asyncpg.Record], paid_mails: dict[str, list[str]]) -> Iterator[str]:
    """One confirmation per order that was paid, none for any other. Delivery is at least
    once: a copy sent again carries the same Message-ID (the event's), so the mailbox shows
    one message; two different Message-IDs are two confirmations."""
    for order_id, message_ids in paid_mails.items():
        distinct = set(message_ids)
        if len(distinct) != 1 or order_id not in orders:
            yield f"order {order_id}: {len(distinct)} confirmation mails {sorted(distinct)}"
    for order_id, order in orders.items():
        if order["status"] in CHARGED and order_id not in paid_mails:
            yield f"order {order_id} is {order['status']} without a confirmation"


def settled(url: str) -> bool:
    """No order still waiting for its payment and every event in the outbox handled."""
    [row] = query(
        url,
        "SELECT (SELECT count(*) FROM orders WHERE status IN ('pending_payment', 'cancelling'))"
        " + (SELECT count(*) FROM outbox WHERE handled_at IS NULL) AS n",
    )
    return bool(row["n"] == 0)


def describe(traffic: Traffic, findings: Findings) -> dict[str, Any]:
    """The figures a fault test prints (pytest -s) for the notes and the README."""
    return {
        "answers": dict(traffic.statuses()),
        "orders": dict(findings.orders),
        "charges": findings.charges,
        "refunds": findings.refunds,
        "confirmations": findings.mails,
        "confirmations_resent": findings.mails_resent,
        "events_redelivered": findings.redelivered,
        "violations": findings.violations,
    }
