"""One Redis pub/sub channel listened to for the life of a process (the lifespan owns it).

Pub/sub keeps nothing for a subscriber that is away, so the owner is told each time the
listener is subscribed (again) and each time it lost the connection: it resynchronises
then (the live streams ask for a snapshot, the catalog cache drops what it holds).

The connection is the listener's own: no ``socket_timeout`` (an idle channel is normal),
``health_check_interval`` to notice a dead peer, reconnect with exponential backoff, and
``client_name`` (its ``CLIENT SETNAME``, which ``CLIENT LIST`` shows) when one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

OnMessage = Callable[[bytes], None]
# Awaited on every subscription; True when it is a reconnection (something may be missed).
OnSubscribed = Callable[[bool], Awaitable[None]]


class ChannelListener:
    def __init__(
        self,
        *,
        url: str,
        channel: str,
        on_message: OnMessage,
        on_subscribed: OnSubscribed,
        on_lost: Callable[[], None] = lambda: None,
        client_name: str | None = None,
        health_check_interval: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = url
        self.channel = channel
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_lost = on_lost
        self._client_name = client_name
        self._health_check_interval = health_check_interval
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"listener:{self.channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        backoff = 0.1
        connected_before = False
        while True:
            client = Redis.from_url(
                self._url,
                socket_timeout=None,
                socket_connect_timeout=5,
                health_check_interval=int(self._health_check_interval),
                client_name=self._client_name,
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    await self._on_subscribed(connected_before)
                    if connected_before:
                        log.info("listener_resubscribed", channel=self.channel)
                    connected_before = True
                    backoff = 0.1
                    self.subscribed.set()
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None and message.get("type") == "message":
                            self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                if self.subscribed.is_set():
                    self.subscribed.clear()
                    self._on_lost()
                log.warning(
                    "listener_disconnected",
                    channel=self.channel,
                    error=str(error),
                    retry_in=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                await client.aclose()
