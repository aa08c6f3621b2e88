"""Sessions: what a sign-in opens, and how it ends.

A session is a row holding the hash of its one current refresh token (its "family" is the
chain of refresh tokens rotated from the first). Every access and refresh token names its
session (``sid``). An access token works while its session is open, the account active and
its token version unchanged: one query per request joins the user to the session.

Refreshing rotates: one conditional UPDATE swaps the stored hash, so the presented token
stops working. Presenting a rotated token again means someone kept a copy (or two clients
share one session and raced): the whole session is revoked, and its holder signs in again.
Logging out revokes the session; logging out everywhere revokes every session and bumps the
account's token version, which also ends the admin panel's session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import structlog

from orderly.core.security import InvalidToken, TokenClaims, TokenCodec, TokenPair, TokenType
from orderly.models import AuthSession, Role, User
from orderly.models.account import secret_hash
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)


class RefreshTokenReused(InvalidToken):
    """A refresh token was presented after it had been rotated: it was copied, so the
    session it belongs to is revoked; sign in again."""

    code = "refresh-token-reused"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who an access token belongs to, and the session it was issued for."""

    user: User
    session_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who an access token belongs to, as a request that only reads needs them: the
    account's id and role, not the whole entity (``Sessions.viewer``)."""

    id: uuid.UUID
    role: Role
    two_factor_enabled: bool

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class Sessions:
    def __init__(self, uow: UnitOfWorkFactory, tokens: TokenCodec) -> None:
        self._uow = uow
        self._tokens = tokens

    async def open(self, user: User) -> TokenPair:
        session_id = uuid.uuid4()
        pair = self._tokens.issue_pair(user.id, user.token_version, session_id)
        async with self._uow() as uow:
            uow.accounts.add(
                AuthSession(
                    id=session_id,
                    user_id=user.id,
                    refresh_token_hash=secret_hash(pair.refresh_token),
                )
            )
            await uow.commit()
        return pair

    async def refresh(self, *, refresh_token: str) -> TokenPair:
        """A new pair for the session; the presented refresh token stops working."""
        claims = self._tokens.decode(refresh_token, TokenType.REFRESH)
        if claims.session_id is None:
            raise InvalidToken("The token belongs to no session; sign in again")
        now = datetime.now(UTC)
        async with self._uow() as uow:
            user = await uow.users.get(claims.user_id)
            if user is None or not user.is_active or user.token_version != claims.version:
                raise InvalidToken("The token is no longer valid")
            pair = self._tokens.issue_pair(user.id, user.token_version, claims.session_id)
            rotated = await uow.accounts.rotate_refresh(
                claims.session_id,
                user_id=user.id,
                old_hash=secret_hash(refresh_token),
                new_hash=secret_hash(pair.refresh_token),
                now=now,
            )
            if rotated:
                await uow.commit()
                return pair
            reused = await uow.accounts.revoke_session(
                claims.session_id, user_id=user.id, reason="refresh-token-reused", now=now
            )
            await uow.commit()
        if reused:
            log.warning(
                "refresh_token_reused", user_id=str(user.id), session_id=str(claims.session_id)
            )
            raise RefreshTokenReused("This refresh token was already used; the session is ended")
        raise InvalidToken("The session has ended; sign in again")

    async def signed_in(self, *, access_token: str) -> SignedIn:
        claims, session_id = self._access_claims(access_token)
        async with self._uow(read_only=True) as uow:
            user = await uow.accounts.signed_in_user(claims.user_id, session_id)
        return SignedIn(user=_still_valid(user, claims), session_id=session_id)

    async def viewer(self, *, access_token: str) -> Viewer:
        """``signed_in``'s checks, without loading the user entity: for requests that only
        read, which need the account's id and role."""
        claims, session_id = self._access_claims(access_token)
        async with self._uow(read_only=True) as uow:
            account = await uow.accounts.signed_in_account(claims.user_id, session_id)
        account = _still_valid(account, claims)
        return Viewer(
            id=account.id,
            role=account.role,
            two_factor_enabled=account.totp_enabled_at is not None,
        )

    def _access_claims(self, access_token: str) -> tuple[TokenClaims, uuid.UUID]:
        claims = self._tokens.decode(access_token, TokenType.ACCESS)
        if claims.session_id is None:
            raise InvalidToken("The token belongs to no session; sign in again")
        return claims, claims.session_id

    async def end(self, *, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        async with self._uow() as uow:
            now = datetime.now(UTC)
            await uow.accounts.revoke_session(session_id, user_id=user_id, reason="logout", now=now)
            await uow.commit()

    async def end_all(self, *, user_id: uuid.UUID) -> None:
        """Every session ends, and every token issued so far (the panel's session too)."""
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise InvalidToken("No such account")
            user.revoke_tokens()
            await uow.accounts.revoke_sessions(user_id, reason="logout-all", now=datetime.now(UTC))
            await uow.commit()


class _Account(Protocol):
    @property
    def is_active(self) -> bool: ...
    @property
    def token_version(self) -> int: ...


Account = TypeVar("Account", bound=_Account)


def _still_valid(account: Account | None, claims: TokenClaims) -> Account:
    """The account an access token names, if the token still works: its session is open
    (else no account was found), the account active, and its token version unchanged."""
    if account is None or not account.is_active or account.token_version != claims.version:
        raise InvalidToken("The token is no longer valid")
    return account
