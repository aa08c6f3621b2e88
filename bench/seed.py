"""A throw-away PostgreSQL database for the benchmark: migrated, then 1,000 items, 100 users
and 10,000 orders (one user owns 100 of them), inserted in bulk."""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from orderly import migrate
from orderly.core.security import TokenCodec
from orderly.projections import orders as order_projection

USERS, ITEMS, ORDERS, HEAVY_USER_ORDERS = 100, 1_000, 10_000, 100
SECRET = "bench-secret-key-of-sufficient-length-0123456789"
# The PostgreSQL server on which each benchmark creates (and drops) a database of its own.
POSTGRES = os.environ.get(
    "ORDERLY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# One argon2 hash for every bench user: the benchmark never logs in, it signs tokens.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$0123456789abcdefghijklmnopqrstuv"


@dataclass
class Seeded:
    url: str
    dsn: str
    user_ids: list[uuid.UUID]
    heavy_user: uuid.UUID
    item_ids: list[uuid.UUID]


def dsn_of(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(server_url: str, prefix: str = "orderly_bench") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(dsn_of(server_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, url: str) -> None:
    connection = await asyncpg.connect(dsn_of(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await connection.close()


async def seed(url: str) -> Seeded:
    rng = random.Random(7)  # noqa: S311 - test data
    now = datetime.now(UTC)
    users = [(uuid.uuid4(), f"bench{n}@example.com") for n in range(USERS)]
    items = [uuid.uuid4() for _ in range(ITEMS)]
    prices = {item: rng.randint(100, 20_000) for item in items}
    connection = await asyncpg.connect(dsn_of(url))
    try:
        await connection.copy_records_to_table(
            "users",
            columns=[
                "id",
                "email",
                "password_hash",
                "full_name",
                "role",
                "is_active",
                "token_version",
                "failed_logins",
                "created_at",
                "updated_at",
            ],
            records=[
                (u, e, PASSWORD_HASH, "Bench", "customer", True, 0, 0, now, now) for u, e in users
            ],
        )
        await connection.copy_records_to_table(  # the session each user's token names
            "auth_sessions",
            columns=["id", "user_id", "refresh_token_hash", "created_at", "last_used_at"],
            records=[(session_of(u), u, "0" * 64, now, now) for u, _ in users],
        )
        await connection.copy_records_to_table(
            "items",
            columns=[
                "id",
                "sku",
                "name",
                "description",
                "price_minor",
                "currency",
                "stock",
                "is_active",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    item,
                    f"BENCH-{n:05d}",
                    f"Bench item {n:05d}",
                    "",
                    prices[item],
                    "EUR",
                    10_000_000,
                    True,
                    now - timedelta(seconds=n),
                    now,
                )
                for n, item in enumerate(items)
            ],
        )
        heavy = users[0][0]
        orders, lines, timeline = [], [], []
        for n in range(ORDERS):
            owner = heavy if n < HEAVY_USER_ORDERS else users[1 + n % (USERS - 1)][0]
            order_id, item = uuid.uuid4(), items[n % ITEMS]
            stamp = now - timedelta(minutes=n)
            orders.append(
                (
                    order_id,
                    owner,
                    "paid",
                    prices[item],
                    "EUR",
                    "pm_card_visa",
                    None,
                    None,
                    stamp,
                    stamp,
                    2,
                )
            )
            lines.append((uuid.uuid4(), order_id, 0, item, 1, prices[item]))
            placed = (None, "pending_payment", "order.placed", "customer", owner, "{}")
            paid = (
                "pending_payment",
                "paid",
                "order.paid",
                "worker",
                None,
                '{"payment_reference": "pi_bench"}',
            )
            for sequence, (before, after, kind, actor, actor_id, data) in enumerate(
                (placed, paid), 1
            ):
                timeline.append(
                    (
                        uuid.uuid4(),
                        order_id,
                        sequence,
                        kind,
                        before,
                        after,
                        actor,
                        actor_id,
                        None,
                        data,
                        stamp,
                    )
                )
        await connection.copy_records_to_table(
            "orders",
            columns=[
                "id",
                "user_id",
                "status",
                "total_minor",
                "currency",
                "payment_method",
                "idempotency_key",
                "request_fingerprint",
                "created_at",
                "updated_at",
                "timeline_position",
            ],
            records=orders,
        )
        await connection.copy_records_to_table(
            "order_lines",
            columns=["id", "order_id", "position", "item_id", "quantity", "unit_price_minor"],
            records=lines,
        )
        await connection.copy_records_to_table(
            "order_timeline",
            columns=[
                "id",
                "order_id",
                "sequence",
                "type",
                "from_status",
                "to_status",
                "actor_kind",
                "actor_id",
                "reason",
                "data",
                "occurred_at",
            ],
            records=timeline,
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return Seeded(url, dsn_of(url), [u for u, _ in users], heavy, items)


async def project_orders(url: str) -> None:
    """The orders' read model for the rows copied in (orderly writes it with each order)."""
    engine = create_async_engine(url)
    try:
        await order_projection.rebuild(async_sessionmaker(engine), batch=2_000)
    finally:
        await engine.dispose()


def prepare(server_url: str) -> Seeded:
    url = asyncio.run(create_database(server_url))
    migrate.upgrade(url)
    seeded = asyncio.run(seed(url))
    asyncio.run(project_orders(url))
    return seeded


def access_tokens(seeded: Seeded) -> dict[uuid.UUID, str]:
    """An access token for every seeded user, signed with the benchmark's secret."""
    codec = TokenCodec(
        secret_key=SECRET,
        algorithm="HS256",
        access_ttl=timedelta(hours=2),
        refresh_ttl=timedelta(hours=2),
    )
    return {u: codec.issue_pair(u, 0, session_of(u)).access_token for u in seeded.user_ids}


def session_of(user_id: uuid.UUID) -> uuid.UUID:
    """The seeded session of a benchmark user (an access token must name an open one)."""
    return uuid.uuid5(user_id, "bench-session")


def server_env(seeded: Seeded) -> dict[str, str]:
    """orderly's settings in every benchmark: the seeded database, JSON logs, no rate
    limits, jobs run elsewhere (as in production); BENCH_DSN for the baselines."""
    return {
        "ORDERLY_DATABASE_URL": seeded.url,
        "ORDERLY_SECRET_KEY": SECRET,
        "ORDERLY_LOG_JSON": "true",
        "ORDERLY_RATE_LIMIT_ENABLED": "false",
        "ORDERLY_EMBEDDED_JOBS": "false",
        "BENCH_DSN": seeded.dsn,
    }


def lua_array(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"
