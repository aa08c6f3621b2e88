"""A database that cannot take connections now is a 503 with Retry-After, not a 500.

While PostgreSQL shuts down or starts up, a new connection is refused with SQLSTATE 57P03
(asyncpg's CannotConnectNowError); with every slot taken it is 53300 (too many clients).
SQLAlchemy hands both to the error handler as a DBAPIError whose connection was never
invalidated, which used to be answered 500. A small server speaking just enough of the
PostgreSQL protocol answers every connection the way PostgreSQL does in those moments.
"""

from __future__ import annotations

import asyncio
import sqlite3
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from orderly.api.problems import database_unavailable
from orderly.core.config import Settings
from orderly.main import create_app
from tests.conftest import assert_problem, settings_for
from tests.peers import tcp_peer
from tests.processes import free_port

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def error_response(sqlstate: str, message: str) -> bytes:
    fields = [(b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message)]
    payload = b"".join(key + value.encode() + b"\0" for key, value in fields) + b"\0"
    return b"E" + struct.pack("!i", len(payload) + 4) + payload


@asynccontextmanager
async def refusing_postgres(sqlstate: str, message: str) -> AsyncIterator[int]:
    """A server on a free port that refuses every start-up with this error; yields the port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(3):  # an SSL or GSS encryption request, then the start-up packet
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                (code,) = struct.unpack("!i", (await reader.readexactly(length - 4))[:4])
                if code not in {SSL_REQUEST, GSSENC_REQUEST}:
                    writer.write(error_response(sqlstate, message))
                    await writer.drain()
                    return
                writer.write(b"N")  # no encryption: go on in plain text
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async with tcp_peer(answer) as port:
        yield port


def settings_on(url: str, tmp_path: Path) -> Settings:
    return settings_for(
        url,
        embedded_jobs=False,
        mail_dir=str(tmp_path / "mail"),
    )


async def get_items(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/api/v1/items")


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("57P03", "the database system is shutting down"),
        ("57P03", "the database system is starting up"),
        ("53300", "sorry, too many clients already"),
        ("08004", "the server rejected the connection"),
    ],
)
async def test_a_database_that_cannot_take_connections_now_is_a_503(
    sqlstate: str, message: str, tmp_path: Path
) -> None:
    async with refusing_postgres(sqlstate, message) as port:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/orderly"
        answer = await get_items(settings_on(url, tmp_path))
    body = assert_problem(answer, 503)
    assert body["type"] == "urn:orderly:problem:backend-unavailable"
    assert answer.headers["Retry-After"] == "1"
    assert message not in answer.text  # the server's words stay in the log


async def test_a_refused_database_connection_is_a_503(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/orderly"  # nobody listens
    answer = await get_items(settings_on(url, tmp_path))
    assert_problem(answer, 503)
    assert answer.headers["Retry-After"] == "1"


async def test_a_database_error_that_will_not_pass_stays_a_500(tmp_path: Path) -> None:
    async with refusing_postgres("3D000", 'database "orderly" does not exist') as port:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/orderly"
        answer = await get_items(settings_on(url, tmp_path))
    body = assert_problem(answer, 500)
    assert "does not exist" not in answer.text
    assert body["request_id"]


def sqlite_error(errorname: str) -> OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorname = errorname
    return OperationalError("INSERT ...", {}, error)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: sqlite_error("SQLITE_BUSY"), True),
        (lambda: sqlite_error("SQLITE_CONSTRAINT"), False),
    ],
)
def test_a_busy_sqlite_database_is_unavailable_other_errors_are_not(
    make: Callable[[], OperationalError], expected: bool
) -> None:
    assert database_unavailable(make()) is expected
