"""Rate limits (the ``limits`` library): Redis-backed when ``ORDERLY_REDIS_URL`` is set, so all
API processes share one budget, in memory otherwise. Moving windows: the sixth login within
any sixty seconds is refused, not merely the sixth in a calendar minute."""

from __future__ import annotations

import math
import time
from enum import StrEnum

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from orderly.core import metrics
from orderly.core.config import Settings
from orderly.core.errors import TooManyRequests

log = structlog.get_logger(__name__)


class LimitScope(StrEnum):
    LOGIN = "login"  # per client address
    REGISTER = "register"  # per client address
    WRITE = "write"  # per user
    ACCOUNT = "account"  # per client address: password reset, verification, two-factor


class RateLimited(TooManyRequests):
    code = "rate-limited"


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=f"{settings.redis_key_prefix}:ratelimit",
            )
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)
        self._rules: dict[LimitScope, RateLimitItem] = {
            LimitScope.LOGIN: parse(settings.rate_limit_login),
            LimitScope.REGISTER: parse(settings.rate_limit_register),
            LimitScope.WRITE: parse(settings.rate_limit_writes),
            LimitScope.ACCOUNT: parse(settings.rate_limit_account),
        }

    async def check(self, scope: LimitScope, key: str) -> None:
        """Count one request for ``key``; raise ``RateLimited`` when over the budget.

        If the limit store is unreachable the request is let through (and logged): losing
        the limiter for a while is better than refusing every request.
        """
        if not self.enabled:
            return
        rule = self._rules[scope]
        try:
            allowed = await self._limiter.hit(rule, scope.value, key)
            if allowed:
                return
            stats = await self._limiter.get_window_stats(rule, scope.value, key)
        except Exception as exc:  # noqa: BLE001 - the store is down: fail open
            log.warning("rate_limit_store_unavailable", error=type(exc).__name__)
            return
        metrics.RATE_LIMITED.labels(scope.value).inc()
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many requests; try again in {retry_after} s",
            retry_after=retry_after,
            limit=rule.amount,
            remaining=stats.remaining,
        )
