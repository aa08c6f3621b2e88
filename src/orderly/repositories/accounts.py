"""Queries on an account's security: sessions, mailed tokens, recovery codes, and the login
throttle and TOTP step on the user row. Changes that can race (a refresh token used twice,
a token or code used twice, two failed logins at once) are single conditional UPDATEs, so
the database decides who wins. Never commits: the unit of work owns the transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import AccountToken, AuthSession, RecoveryCode, Role, TokenPurpose, User

_SESSIONS = cast(Table, AuthSession.__table__)
_TOKENS = cast(Table, AccountToken.__table__)
_CODES = cast(Table, RecoveryCode.__table__)
_USERS = cast(Table, User.__table__)

# The user behind an access token, if its session is still open: one query per request.
_OPEN_SESSION = _SESSIONS.join(_USERS, _SESSIONS.c.user_id == _USERS.c.id)
_SIGNED_IN_WHERE = (
    _USERS.c.id == bindparam("user_id"),
    _SESSIONS.c.id == bindparam("session_id"),
    _SESSIONS.c.revoked_at.is_(None),
)
_SIGNED_IN = select(User).select_from(_OPEN_SESSION).where(*_SIGNED_IN_WHERE)
# The same check read as the columns a read-only request needs: a Core statement (no ORM
# entity in it, so SQLAlchemy runs it without the ORM's loading), giving a plain row.
_SIGNED_IN_ACCOUNT = (
    select(
        _USERS.c.id,
        _USERS.c.role,
        _USERS.c.is_active,
        _USERS.c.token_version,
        _USERS.c.totp_enabled_at,
    )
    .select_from(_OPEN_SESSION)
    .where(*_SIGNED_IN_WHERE)
)
_ROTATE = (
    update(_SESSIONS)
    .where(
        _SESSIONS.c.id == bindparam("session_id"),
        _SESSIONS.c.user_id == bindparam("owner_id"),
        _SESSIONS.c.refresh_token_hash == bindparam("old_hash"),
        _SESSIONS.c.revoked_at.is_(None),
    )
    .values(refresh_token_hash=bindparam("new_hash"), last_used_at=bindparam("now"))
)
_COUNT_FAILURE = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(
        failed_logins=case(
            (
                or_(
                    _USERS.c.last_failed_login_at.is_(None),
                    _USERS.c.last_failed_login_at < bindparam("forget_before"),
                ),
                1,
            ),
            else_=_USERS.c.failed_logins + 1,
        ),
        last_failed_login_at=bindparam("now"),
    )
    .returning(_USERS.c.failed_logins)
)


class SignedInAccount(Protocol):
    """A row of ``AccountRepository.signed_in_account``."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def role(self) -> Role: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def token_version(self) -> int: ...
    @property
    def totp_enabled_at(self) -> datetime | None: ...


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: AuthSession | AccountToken | RecoveryCode) -> None:
        self._session.add(row)

    # -- sessions -------------------------------------------------------------------------

    async def signed_in_user(self, user_id: uuid.UUID, session_id: uuid.UUID) -> User | None:
        params = {"user_id": user_id, "session_id": session_id}
        return (await self._session.scalars(_SIGNED_IN, params)).one_or_none()

    async def signed_in_account(
        self, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> SignedInAccount | None:
        """``signed_in_user``'s check, reading only the columns the check and a read need."""
        params = {"user_id": user_id, "session_id": session_id}
        row: SignedInAccount | None = (
            await self._session.execute(_SIGNED_IN_ACCOUNT, params)
        ).one_or_none()
        return row

    async def rotate_refresh(
        self,
        session_id: uuid.UUID,
        *,
        user_id: uuid.UUID,
        old_hash: str,
        new_hash: str,
        now: datetime,
    ) -> bool:
        """Replace the session's refresh token if ``old_hash`` is the current one of an open
        session; False otherwise (revoked, or an older token of the family)."""
        params = {
            "session_id": session_id,
            "owner_id": user_id,
            "old_hash": old_hash,
            "new_hash": new_hash,
            "now": now,
        }
        return _changed(await self._session.execute(_ROTATE, params)) == 1

    async def revoke_session(
        self, session_id: uuid.UUID, *, user_id: uuid.UUID, reason: str, now: datetime
    ) -> bool:
        """True if the session was open (and is now revoked)."""
        statement = (
            update(_SESSIONS)
            .where(
                _SESSIONS.c.id == session_id,
                _SESSIONS.c.user_id == user_id,
                _SESSIONS.c.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason=reason)
        )
        return _changed(await self._session.execute(statement)) == 1

    async def revoke_sessions(self, user_id: uuid.UUID, *, reason: str, now: datetime) -> int:
        statement = (
            update(_SESSIONS)
            .where(_SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        return _changed(await self._session.execute(statement))

    # -- mailed tokens ---------------------------------------------------------------------

    async def token_by_hash(self, token_hash: str) -> AccountToken | None:
        statement = select(AccountToken).where(AccountToken.token_hash == token_hash)
        return (await self._session.scalars(statement)).one_or_none()

    async def use_token(self, token_id: uuid.UUID, *, now: datetime) -> bool:
        """Mark an unused, unexpired token used; False if another request used it first."""
        statement = (
            update(_TOKENS)
            .where(
                _TOKENS.c.id == token_id,
                _TOKENS.c.used_at.is_(None),
                _TOKENS.c.expires_at > now,
            )
            .values(used_at=now)
        )
        return _changed(await self._session.execute(statement)) == 1

    async def use_tokens(self, user_id: uuid.UUID, purpose: TokenPurpose, *, now: datetime) -> None:
        """Every outstanding token of this purpose stops working (a newer one was used)."""
        await self._session.execute(
            update(_TOKENS)
            .where(
                _TOKENS.c.user_id == user_id,
                _TOKENS.c.purpose == purpose,
                _TOKENS.c.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def last_token_at(self, user_id: uuid.UUID, purpose: TokenPurpose) -> datetime | None:
        statement = select(func.max(AccountToken.created_at)).where(
            AccountToken.user_id == user_id, AccountToken.purpose == purpose
        )
        latest = await self._session.scalar(statement)
        if isinstance(latest, str):  # SQLite aggregates come back as text
            latest = datetime.fromisoformat(latest)
        if isinstance(latest, datetime) and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        return latest if isinstance(latest, datetime) else None

    # -- two-factor ------------------------------------------------------------------------

    async def replace_recovery_codes(self, user_id: uuid.UUID, code_hashes: list[str]) -> None:
        await self.delete_recovery_codes(user_id)
        for code_hash in code_hashes:
            self.add(RecoveryCode(user_id=user_id, code_hash=code_hash))

    async def delete_recovery_codes(self, user_id: uuid.UUID) -> None:
        await self._session.execute(delete(_CODES).where(_CODES.c.user_id == user_id))

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str, *, now: datetime) -> bool:
        statement = (
            update(_CODES)
            .where(
                _CODES.c.user_id == user_id,
                _CODES.c.code_hash == code_hash,
                _CODES.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return _changed(await self._session.execute(statement)) == 1

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        statement = select(func.count()).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
        return int(await self._session.scalar(statement) or 0)

    async def accept_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record ``step`` as the last code used, if it is later than the last one: a code
        (and any earlier one) opens the account once."""
        statement = (
            update(_USERS)
            .where(
                _USERS.c.id == user_id,
                or_(_USERS.c.totp_last_step.is_(None), _USERS.c.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        return _changed(await self._session.execute(statement)) == 1

    # -- the login throttle ----------------------------------------------------------------

    async def count_failed_login(
        self, user_id: uuid.UUID, *, now: datetime, forget_before: datetime
    ) -> int:
        """One more consecutive failure (the count restarts when the last failure is older
        than ``forget_before``); the new count."""
        params = {"user_id": user_id, "now": now, "forget_before": forget_before}
        failures = (await self._session.execute(_COUNT_FAILURE, params)).scalar_one_or_none()
        return int(failures or 0)

    async def lock(self, user_id: uuid.UUID, *, until: datetime) -> None:
        await self._session.execute(
            update(_USERS).where(_USERS.c.id == user_id).values(locked_until=until)
        )

    async def clear_failures(self, user_id: uuid.UUID) -> None:
        await self._session.execute(
            update(_USERS)
            .where(
                _USERS.c.id == user_id,
                or_(_USERS.c.failed_logins > 0, _USERS.c.locked_until.is_not(None)),
            )
            .values(failed_logins=0, last_failed_login_at=None, locked_until=None)
        )
