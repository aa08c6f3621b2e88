"""The catalog's version: advanced after the commit of every catalog change, in every process.

A unit of work that committed a change to an item (create, edit, soft delete, restore, or a
stock move that crossed an availability level) awaits ``advance``. The process drops its
cached pages at once (the writer's next read sees its change), and with Redis the shared
version is INCRemented and published on a channel; every API process's listener drops its
pages when it hears of a change made elsewhere, and all of them when it (re)subscribes,
since pub/sub keeps nothing for a subscriber that was away. While a process's listener is
not subscribed it cannot hear of changes, so its cache serves nothing (``trusted``).
Without Redis the version is this process's alone (one API process, or the TTL bounds how
long another process's pages lag).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from orderly.events.subscriber import ChannelListener

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PUBLISH_TIMEOUT = 1.0  # seconds; the change is committed either way, the TTL is the backstop

# Told why the pages this process holds are no longer good: "change" (committed here),
# "remote" (heard from another process), "resubscribed", "disconnected".
Watcher = Callable[[str], None]


class CatalogVersion:
    def __init__(self, *, redis: Redis | None, prefix: str) -> None:
        self._redis = redis
        self._key = f"{prefix}:catalog:version"
        self.channel = f"{prefix}:catalog"
        self._origin = uuid.uuid4().hex  # this process: its own messages are not news to it
        self._watchers: list[Watcher] = []
        # True while a change made anywhere would reach this process: always without Redis,
        # with it while the listener is subscribed.
        self.trusted = redis is None
        self.last_published: int | None = None  # the shared version this process last set

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def _tell(self, reason: str) -> None:
        for watcher in self._watchers:
            watcher(reason)

    async def advance(self) -> None:
        """After a commit that changed the catalog (never before it)."""
        self._tell("change")
        if self._redis is None:
            return
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError

        for attempt in range(2):  # after a Redis restart each pooled connection fails once
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    version = int(await self._redis.incr(self._key))
                    await self._redis.publish(self.channel, f"{version} {self._origin}")
            except RedisConnectionError as error:
                if attempt == 0:
                    continue
                self._not_published(error)
            except (RedisError, OSError, TimeoutError) as error:
                self._not_published(error)
            else:
                self.last_published = version
            return

    @staticmethod
    def _not_published(error: Exception) -> None:
        # Other processes learn of it by their pages' TTL, or drop everything when their
        # listener resubscribes after this outage.
        log.warning("catalog_version_not_published", error=str(error))

    def heard(self, message: bytes) -> None:
        """A message on the channel: a change committed by some process."""
        _, _, origin = message.decode("ascii", "replace").partition(" ")
        if origin != self._origin:
            self._tell("remote")

    async def subscribed(self, again: bool) -> None:
        self.trusted = True
        self._tell("resubscribed" if again else "subscribed")

    def lost(self) -> None:
        self.trusted = False
        self._tell("disconnected")

    def listener(self, url: str) -> ChannelListener:
        return ChannelListener(
            url=url,
            channel=self.channel,
            on_message=self.heard,
            on_subscribed=self.subscribed,
            on_lost=self.lost,
        )
