"""The per-account login throttle, on top of the per-address rate limit.

The rate limit (``ORDERLY_RATE_LIMIT_LOGIN``, per client address) stops one machine from
guessing fast; this stops many machines from guessing one account's password or two-factor
code. Every wrong password or code for an existing account counts as a consecutive failure;
from the ``threshold``-th on, the account refuses attempts for a delay that doubles with each
further failure: ``base * 2 ** (failures - threshold)``, capped at ``max_delay``.

The trade-off, chosen so that an attacker cannot lock a victim out indefinitely:

- Attempts during a delay are refused *without* checking the password, and are *not*
  counted: hammering a locked account does not lengthen the delay. Only one guess per delay
  window counts, so holding an account locked costs the attacker a failed guess every
  ``max_delay`` (15 minutes by default), each one logged (``account_locked``).
- The delay is a pause, never a permanent lock: it always ends by itself, and the password
  reset by e-mail (which the attacker cannot complete) clears it at once.
- The count is forgotten after ``memory`` (24 h) without failures, and reset by a successful
  login (password, and the code when two-factor is on: a right password alone resets nothing
  for a two-factor account, or a thief of the password could guess codes without end).
- The price: while a delay runs, even the right password (and code) is refused, so an
  attacker guessing at least once per window keeps the owner waiting; the alternative,
  checking the password during the delay, would turn the delay into no limit at all.
- The answer during a delay (429 ``account-locked``) tells that the address has an account;
  registration (409 ``email-taken``) already tells that, so nothing new is given away.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from orderly.core.errors import TooManyRequests
from orderly.models import User
from orderly.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)


class AccountLocked(TooManyRequests):
    """Too many failed sign-ins for this account: attempts are refused until `Retry-After`."""

    code = "account-locked"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    threshold: int = 5
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    memory: timedelta = timedelta(hours=24)

    def delay_after(self, failures: int) -> timedelta | None:
        """How long attempts are refused after ``failures`` consecutive failures."""
        if failures < self.threshold:
            return None
        exponent = min(failures - self.threshold, 20)  # 2**20 * base is far past any cap
        delay: timedelta = self.base_delay * (2**exponent)
        return min(delay, self.max_delay)


class Throttle:
    """Counts failures per account and refuses attempts while a delay runs."""

    def __init__(self, uow: UnitOfWorkFactory, policy: LockoutPolicy) -> None:
        self._uow = uow
        self.policy = policy

    def check(self, user: User, now: datetime) -> None:
        """Raise ``AccountLocked`` while the account's delay runs."""
        if user.locked_until is not None and user.locked_until > now:
            wait = max(1, math.ceil((user.locked_until - now).total_seconds()))
            raise AccountLocked(
                f"Too many failed sign-ins for this account; try again in {wait} s",
                retry_after=wait,
                limit=self.policy.threshold,
                remaining=0,
            )

    async def failed(self, user_id: uuid.UUID, now: datetime) -> None:
        """One more failure, in its own transaction; starts a delay from the threshold on."""
        async with self._uow() as uow:
            failures = await uow.accounts.count_failed_login(
                user_id, now=now, forget_before=now - self.policy.memory
            )
            delay = self.policy.delay_after(failures)
            if delay is not None:
                await uow.accounts.lock(user_id, until=now + delay)
            await uow.commit()
        if delay is not None:
            log.warning(
                "account_locked",
                user_id=str(user_id),
                failures=failures,
                seconds=int(delay.total_seconds()),
            )

    @staticmethod
    async def succeeded(uow: UnitOfWork, user: User) -> None:
        """Forget the failures (in the caller's transaction; a no-op when there are none)."""
        if user.failed_logins or user.locked_until is not None:
            await uow.accounts.clear_failures(user.id)
