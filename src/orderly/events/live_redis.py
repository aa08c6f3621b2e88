"""Live status across processes: changes published on one Redis pub/sub channel, and one
listener per API process feeding its ``LiveHub``.

Pub/sub keeps nothing for a subscriber that is away, so after every reconnect the listener
(the shared ``ChannelListener``) asks each stream of its process for a fresh snapshot
(``LiveHub.resync``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from orderly.events.live import LISTENER_RECONNECTS, LiveChange, LiveHub
from orderly.events.subscriber import ChannelListener

if TYPE_CHECKING:
    from redis.asyncio import Redis

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


def start_listener(*, url: str | None, prefix: str, hub: LiveHub) -> ChannelListener | None:
    """The process's listener when Redis is configured (changes committed anywhere reach this
    process's streams); without Redis the in-process runner publishes to ``hub`` itself."""
    if not url:
        return None

    def heard(data: bytes) -> None:
        try:
            change = LiveChange.loads(data)
        except (ValueError, KeyError, TypeError):
            log.warning("live_message_unreadable")
            return
        hub.publish(change)

    async def subscribed(again: bool) -> None:
        if again:  # something may have been missed while away
            LISTENER_RECONNECTS.inc()
            hub.resync()

    listener = ChannelListener(
        url=url,
        channel=live_channel(prefix),
        on_message=heard,
        on_subscribed=subscribed,
        client_name=listener_name(prefix),
    )
    listener.start()
    return listener
