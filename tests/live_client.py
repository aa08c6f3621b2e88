"""A hand-written Server-Sent Events reader for the tests, and an in-process uvicorn server
(httpx's ASGI transport buffers whole responses, so streams need a real socket)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


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
