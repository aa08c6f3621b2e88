"""Password reset and e-mail verification: single-use tokens mailed to the account's address.

A token is 32 random bytes (URL-safe text); only its SHA-256 is stored. It is made by the
mail handler, right before the mail is sent, so the raw token never sits in the outbox or
the database. A reset token lives 30 minutes, a verification token 48 hours; using one marks
every other outstanding token of the same purpose used.

Asking for a reset answers the same for every address: the request only writes a
``PasswordResetRequested`` event (the same INSERT whether or not the address has an account),
and the handler looks the address up later. Setting the new password follows the
registration rules and ends every session of the account.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from orderly.core.errors import Conflict, Unprocessable
from orderly.core.security import PasswordHasher
from orderly.events.types import EmailVerificationRequested, PasswordResetRequested
from orderly.models import AccountToken, TokenPurpose, User
from orderly.models.account import secret_hash
from orderly.services.users import UserNotFound, check_password_policy
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)

LIFETIMES = {
    TokenPurpose.PASSWORD_RESET: timedelta(minutes=30),
    TokenPurpose.EMAIL_VERIFICATION: timedelta(hours=48),
}
# At most one mail of a kind per account in this time, whatever is asked (no mail bombing).
RESEND_AFTER = timedelta(minutes=1)


class ResetTokenInvalid(Unprocessable):
    """The reset token is unknown, expired (30 minutes) or already used."""

    code = "reset-token-invalid"


class VerificationTokenInvalid(Unprocessable):
    """The verification token is unknown, expired (48 hours) or already used."""

    code = "verification-token-invalid"


class EmailAlreadyVerified(Conflict):
    code = "email-already-verified"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made for ``user``: the raw value goes into the mail, and nowhere else."""

    user: User
    token: str
    expires_at: datetime


class AccountTokens:
    def __init__(self, uow: UnitOfWorkFactory, *, hasher: PasswordHasher) -> None:
        self._uow = uow
        self._hasher = hasher

    # -- asked for (API) ------------------------------------------------------------------

    async def request_password_reset(self, *, email: str) -> None:
        async with self._uow() as uow:
            uow.record(PasswordResetRequested(email=User.normalize_email(email)))
            await uow.commit()

    async def request_verification(self, *, user_id: uuid.UUID) -> None:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise UserNotFound("No such user")
            if user.email_verified:
                raise EmailAlreadyVerified("This e-mail address is already verified")
            uow.record(EmailVerificationRequested(user_id=user_id))
            await uow.commit()

    # -- made for a mail (handlers) -------------------------------------------------------

    async def issue_password_reset(self, *, email: str) -> IssuedToken | None:
        """A reset token for the active account with this address; None if there is none."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get_by_email(email)
        if user is None or not user.is_active:
            log.info("password_reset_for_no_account")
            return None
        return await self._issue(user, TokenPurpose.PASSWORD_RESET)

    async def issue_verification(self, *, user_id: uuid.UUID) -> IssuedToken | None:
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None or not user.is_active or user.email_verified:
            return None
        return await self._issue(user, TokenPurpose.EMAIL_VERIFICATION)

    async def _issue(self, user: User, purpose: TokenPurpose) -> IssuedToken | None:
        now = datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        expires_at = now + LIFETIMES[purpose]
        async with self._uow() as uow:
            latest = await uow.accounts.last_token_at(user.id, purpose)
            if latest is not None and now - latest < RESEND_AFTER:
                log.info("account_mail_throttled", user_id=str(user.id), purpose=purpose.value)
                return None
            uow.accounts.add(
                AccountToken(
                    user_id=user.id,
                    purpose=purpose,
                    token_hash=secret_hash(token),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await uow.commit()
        return IssuedToken(user=user, token=token, expires_at=expires_at)

    # -- used (API) -----------------------------------------------------------------------

    async def reset_password(self, *, token: str, password: str) -> None:
        """Set the new password, end every session and forget failed logins."""
        found = await self._valid(token, TokenPurpose.PASSWORD_RESET, ResetTokenInvalid)
        async with self._uow(read_only=True) as uow:
            owner = await uow.users.get(found.user_id)
        if owner is None or not owner.is_active:
            raise ResetTokenInvalid("The reset token is not valid", field="token")
        check_password_policy(password, email=owner.email)
        password_hash = await self._hasher.hash(password)  # before the transaction: slow
        now = datetime.now(UTC)
        async with self._uow() as uow:
            if not await uow.accounts.use_token(found.id, now=now):
                raise ResetTokenInvalid("The reset token has just been used", field="token")
            user = await uow.users.get(found.user_id)
            if user is None:
                raise ResetTokenInvalid("The reset token is not valid", field="token")
            user.change_password(password_hash)
            await uow.accounts.use_tokens(user.id, TokenPurpose.PASSWORD_RESET, now=now)
            await uow.accounts.revoke_sessions(user.id, reason="password-reset", now=now)
            await uow.accounts.clear_failures(user.id)
            await uow.commit()
        log.info("password_reset", user_id=str(found.user_id))

    async def verify_email(self, *, token: str) -> User:
        found = await self._valid(token, TokenPurpose.EMAIL_VERIFICATION, VerificationTokenInvalid)
        now = datetime.now(UTC)
        async with self._uow() as uow:
            if not await uow.accounts.use_token(found.id, now=now):
                raise VerificationTokenInvalid("The token has just been used", field="token")
            user = await uow.users.get(found.user_id)
            if user is None:
                raise VerificationTokenInvalid("The token is not valid", field="token")
            user.email_verified_at = user.email_verified_at or now
            await uow.accounts.use_tokens(user.id, TokenPurpose.EMAIL_VERIFICATION, now=now)
            await uow.commit()
            return user

    async def _valid(
        self, token: str, purpose: TokenPurpose, error: type[Unprocessable]
    ) -> AccountToken:
        async with self._uow(read_only=True) as uow:
            found = await uow.accounts.token_by_hash(secret_hash(token))
        if found is None or found.purpose != purpose:
            raise error("The token is not valid", field="token")
        if found.used_at is not None:
            raise error("The token has already been used", field="token")
        if found.expires_at <= datetime.now(UTC):
            raise error("The token has expired", field="token")
        return found
