"""Stand-in network peers that misbehave on purpose: a TCP server on a free local port whose
every connection is answered by a handler (a database refusing start-ups, a provider
answering nonsense)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def tcp_peer(handler: Handler) -> AsyncIterator[int]:
    """Serve ``handler`` on 127.0.0.1 on the running loop; yields the port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
