"""Live status across processes: changes published on one Redis pub/sub channel, and one
listener per API process feeding its ``LiveHub``.

Pub/sub keeps nothing for a subscriber that is away, so after every reconnect the listener
asks each stream of its process for a fresh snapshot (``LiveHub.resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog

from orderly.events.live import LISTENER_RECONNECTS, LiveChange, LiveHub

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)
PUBLISH_ATTEMPTS = 3


def live_channel(prefix: str) -> str:
    return f"{prefix}:live"


def listener_name(prefix: str) -> str:
    """The listener connection's CLIENT SETNAME (``CLIENT LIST`` shows which it is)."""
    return f"{prefix}:live-listener"


async def publish(redis: Redis, channel: str, change: LiveChange) -> None:
    """Publish, trying again on a connection error: after Redis restarts, each pooled
    connection fails once (the client was built by ``from_url``, without retries) and is
    replaced by a new one on the next try."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    payload = change.dumps()
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            await redis.publish(channel, payload)
            return
        except RedisConnectionError:
            if attempt == PUBLISH_ATTEMPTS - 1:
                raise


def start_listener(*, url: str | None, prefix: str, hub: LiveHub) -> RedisListener | None:
    """The process's listener when Redis is configured (changes committed anywhere reach this
    process's streams); without Redis the in-process runner publishes to ``hub`` itself."""
    if not url:
        return None
    listener = RedisListener(
        url=url, channel=live_channel(prefix), hub=hub, client_name=listener_name(prefix)
    )
    listener.start()
    return listener


class RedisListener:
    """Subscribes with a connection of its own: no ``socket_timeout`` (an idle channel is
    normal), ``health_check_interval`` to notice a dead peer, reconnect with backoff."""

    def __init__(
        self,
        *,
        url: str,
        channel: str,
        hub: LiveHub,
        client_name: str | None = None,
        health_check_interval: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = url
        self._channel = channel
        self._hub = hub
        self._client_name = client_name
        self._health_check_interval = health_check_interval
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

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
                    await pubsub.subscribe(self._channel)
                    if connected_before:
                        LISTENER_RECONNECTS.inc()
                        self._hub.resync()
                        log.info("live_listener_reconnected")
                    connected_before = True
                    backoff = 0.1
                    self.subscribed.set()
                    await self._receive(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                log.warning("live_listener_disconnected", error=str(error), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                await client.aclose()

    async def _receive(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            try:
                change = LiveChange.loads(message["data"])
            except (ValueError, KeyError, TypeError):
                log.warning("live_message_unreadable")
                continue
            self._hub.publish(change)
