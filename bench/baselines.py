"""Baselines served in the same run as the scenarios (``uvicorn --factory --app-dir bench``):

- ``raw``: a bare ASGI callable answering the bytes of scenario 1 (the server's ceiling);
- ``handwritten``: FastAPI + asyncpg, no ORM, running the SQL orderly runs for scenarios 1,
  3 and 4 (the practical Python limit on this stack); placing an order writes what orderly
  writes: the order, its line, its outbox event, its timeline entry and its read model row.
Both read their inputs from the environment the benchmark sets.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

ITEMS_SQL = (
    "SELECT id, sku, name, description, price_minor, currency, stock, is_active, created_at,"
    " updated_at FROM items WHERE is_active ORDER BY name, id LIMIT 20 OFFSET 0"
)
COUNT_SQL = "SELECT count(*) FROM items WHERE is_active"
USER_SQL = "SELECT id, is_active, token_version, role FROM users WHERE id = $1"


def raw() -> Any:
    body = Path(os.environ["BENCH_RAW_BODY"]).read_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    for key, value in out.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
    return out


def handwritten() -> FastAPI:
    secret = os.environ["ORDERLY_SECRET_KEY"]
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=10, max_size=10)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    async def user_of(connection: asyncpg.Connection, authorization: str) -> uuid.UUID:
        claims = jwt.decode(
            authorization.split()[1], secret, algorithms=["HS256"], issuer="orderly"
        )
        user_id = uuid.UUID(claims["sub"])
        await connection.fetchrow(USER_SQL, user_id)
        return user_id

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/items")
    async def items() -> Response:
        assert pool is not None
        async with pool.acquire() as connection:
            rows = await connection.fetch(ITEMS_SQL)
            total = await connection.fetchval(COUNT_SQL)
        page = {"items": [_row(r) for r in rows], "total": total, "limit": 20, "offset": 0}
        return Response(json.dumps(page), media_type="application/json")

    @app.post("/api/v1/orders", status_code=201)
    async def place(
        request: Request,
        authorization: str = Header(),
        idempotency_key: str = Header(alias="Idempotency-Key"),
    ) -> JSONResponse:
        body = await request.json()
        line = body["lines"][0]
        item_id, quantity = uuid.UUID(line["item_id"]), int(line["quantity"])
        assert pool is not None
        async with pool.acquire() as connection:
            user_id = await user_of(connection, authorization)
            async with connection.transaction():
                await connection.fetchrow(
                    "SELECT id FROM orders WHERE user_id = $1 AND idempotency_key = $2",
                    user_id,
                    idempotency_key,
                )
                item = await connection.fetchrow(
                    "SELECT id, name, price_minor, currency, is_active FROM items WHERE id = $1",
                    item_id,
                )
                reserved = await connection.execute(
                    "UPDATE items SET stock = stock - $2 WHERE id = $1 AND is_active AND stock >= $2",
                    item_id,
                    quantity,
                )
                if reserved != "UPDATE 1":
                    return JSONResponse({"detail": "insufficient stock"}, status_code=409)
                order_id, now = uuid.uuid4(), datetime.now(UTC)
                total = item["price_minor"] * quantity
                await connection.execute(
                    "INSERT INTO orders (id, user_id, status, total_minor, currency, payment_method,"
                    " idempotency_key, request_fingerprint, created_at, updated_at,"
                    " timeline_position)"
                    " VALUES ($1, $2, 'pending_payment', $3, $4, NULL, $5, $6, $7, $7, 1)",
                    order_id,
                    user_id,
                    total,
                    item["currency"],
                    idempotency_key,
                    "x" * 64,
                    now,
                )
                await connection.execute(
                    "INSERT INTO order_lines (id, order_id, position, item_id, quantity,"
                    " unit_price_minor) VALUES ($1, $2, 0, $3, $4, $5)",
                    uuid.uuid4(),
                    order_id,
                    item_id,
                    quantity,
                    item["price_minor"],
                )
                event_id = uuid.uuid4()
                await connection.execute(
                    "INSERT INTO outbox (id, event_type, payload, created_at, available_at,"
                    " attempts) VALUES ($1, 'OrderPlaced', $2, $3, $3, 0)",
                    event_id,
                    json.dumps({"order_id": str(order_id)}),
                    now,
                )
                await connection.execute(
                    "INSERT INTO order_timeline (id, order_id, sequence, type, from_status,"
                    " to_status, actor_kind, actor_id, reason, data, occurred_at)"
                    " VALUES ($1, $2, 1, 'order.placed', NULL, 'pending_payment', 'customer',"
                    " $3, NULL, '{}', $4)",
                    event_id,
                    order_id,
                    user_id,
                    now,
                )
                line_view = {
                    "item_id": str(item_id),
                    "name": item["name"],
                    "quantity": quantity,
                    "unit_price_minor": item["price_minor"],
                }
                await connection.execute(
                    "INSERT INTO order_views (order_id, user_id, status, total_minor, currency,"
                    " lines, last_step_type, last_step_sequence, last_step_at, created_at,"
                    " updated_at) VALUES ($1, $2, 'pending_payment', $3, $4, $5, 'order.placed',"
                    " 1, $6, $6, $6)",
                    order_id,
                    user_id,
                    total,
                    item["currency"],
                    json.dumps([line_view]),
                    now,
                )
        return JSONResponse(
            {"id": str(order_id), "status": "pending_payment", "total_minor": total}, 201
        )

    @app.get("/api/v1/orders")
    async def my_orders(authorization: str = Header()) -> Response:
        assert pool is not None
        async with pool.acquire() as connection:
            user_id = await user_of(connection, authorization)
            orders = await connection.fetch(
                "SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT 20",
                user_id,
            )
            lines = await connection.fetch(
                "SELECT * FROM order_lines WHERE order_id = ANY($1::uuid[]) ORDER BY position",
                [o["id"] for o in orders],
            )
            total = await connection.fetchval(
                "SELECT count(*) FROM orders WHERE user_id = $1", user_id
            )
        by_order: dict[Any, list[dict[str, Any]]] = {}
        for line in lines:
            by_order.setdefault(line["order_id"], []).append(_row(line))
        page = {
            "items": [{**_row(o), "lines": by_order.get(o["id"], [])} for o in orders],
            "total": total,
            "limit": 20,
            "offset": 0,
        }
        return Response(json.dumps(page), media_type="application/json")

    return app
