"""A hand-written Server-Sent Events reader and a WebSocket client for the tests, and an
in-process uvicorn server (httpx's ASGI transport buffers whole responses, so streams need a
real socket)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


@dataclass
class SseEvent:
    event: str = "message"
    id: str | None = None
    data: list[str] = field(default_factory=list)
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


class SseReader:
    """Parses the stream line by line (the format of the WHATWG spec, enough of it)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, wait: float = 5.0) -> SseEvent:
        return await asyncio.wait_for(self._next(), timeout=wait)

    async def next_named(self, wait: float = 5.0) -> SseEvent:
        """The next event with data (skipping ping comments and a bare retry hint)."""
        while True:
            event = await self.next(wait)
            if event.data:
                return event

    async def _next(self) -> SseEvent:
        event = SseEvent()
        async for line in self._lines:
            if line == "":
                return event
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event.comments.append(value)
            elif name == "event":
                event.event = value
            elif name == "id":
                event.id = value
            elif name == "data":
                event.data.append(value)
            elif name == "retry":
                event.retry = int(value)
        raise EOFError("the stream ended")


def step(data: dict[str, Any]) -> tuple[Any, ...]:
    """A change's place and move: (sequence, type, from_status, to_status)."""
    return (data["sequence"], data["type"], data["from_status"], data["to_status"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


class WsReader:
    """A client of ``/api/v1/ws``: JSON messages in and out, and the close code at the end."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, **message: Any) -> None:
        await self.socket.send(json.dumps(message))

    async def next(self, wait: float = 5.0) -> dict[str, Any]:
        """The next message, skipping the server's idle pings."""
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), wait))
            if message["type"] != "ping":
                return message

    async def closed(self, wait: float = 5.0) -> tuple[int, str]:
        """Reads until the server closes; its close code and reason."""
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(self._drain(), wait)
        frame = closed.value.rcvd
        assert frame is not None, "closed without a close frame"
        return frame.code, frame.reason

    async def _drain(self) -> None:
        while True:
            await self.socket.recv()


@asynccontextmanager
async def ws_connect(base_url: str, token: str | None = None) -> AsyncIterator[WsReader]:
    """A WebSocket to ``/api/v1/ws``, authenticated first when ``token`` is given."""
    url = base_url.replace("http://", "ws://") + "/api/v1/ws"
    async with connect(url, open_timeout=5, close_timeout=2) as socket:
        reader = WsReader(socket)
        if token is not None:
            await reader.send(type="auth", token=token)
            assert await reader.next() == {"type": "authenticated"}
        yield reader
