"""Accounts and authentication: register, sign in (the password, then the two-factor code
when it is on; services/sessions.py for what a sign-in opens), profile, and admin changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from orderly.core import metrics
from orderly.core.crypto import SecretBox
from orderly.core.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from orderly.core.security import InvalidToken, PasswordHasher, TokenCodec, TokenPair, TokenType
from orderly.models import Role, User
from orderly.services.lockout import LockoutPolicy, Throttle
from orderly.services.sessions import Sessions, Viewer
from orderly.services.two_factor import SecondFactor
from orderly.unit_of_work import ConstraintViolated, UnitOfWorkFactory

log = structlog.get_logger(__name__)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128


class EmailTaken(Conflict):
    code = "email-taken"


class UserNotFound(NotFound):
    code = "user-not-found"


class InvalidCredentials(Unauthorized):
    code = "invalid-credentials"


class AdminOnly(Forbidden):
    code = "admin-required"


class AccountDisabled(Forbidden):
    code = "account-disabled"


class WeakPassword(Unprocessable):
    code = "weak-password"


class WrongCurrentPassword(Unprocessable):
    code = "wrong-current-password"


class SelfLockout(Conflict):
    code = "self-lockout"


class MfaRequired(Forbidden):
    """The password was right and the account has two-factor on: send `mfa_token` with a
    code from the authenticator app (or a recovery code) to `POST /api/v1/auth/token/mfa`."""

    code = "mfa-required"

    def __init__(self, detail: str, *, mfa_token: str, expires_in: int) -> None:
        super().__init__(detail)
        self.mfa_token = mfa_token
        self.expires_in = expires_in

    def extensions(self) -> dict[str, Any]:
        return {"mfa_token": self.mfa_token, "expires_in": self.expires_in}


class MfaEnrollmentRequired(Forbidden):
    """Administrators must turn on two-factor before anything else (`/api/v1/auth/2fa`)."""

    code = "mfa-enrollment-required"


def check_password_policy(password: str, *, email: str, field: str = "password") -> None:
    """Length over composition (NIST 800-63B), plus two cheap guards against the obvious."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise WeakPassword(
            f"The password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long",
            field=field,
        )
    if len(set(password)) < 4:
        raise WeakPassword("The password needs at least 4 different characters", field=field)
    local_part = User.normalize_email(email).split("@", 1)[0]
    if len(local_part) >= 3 and local_part in password.lower():
        raise WeakPassword("The password must not contain the e-mail address", field=field)


class UserService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        box: SecretBox,
        throttle: Throttle | None = None,
        admins_need_mfa: bool = False,
    ) -> None:
        """``box``: seals and opens the accounts' TOTP seeds."""
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle or Throttle(uow, LockoutPolicy())
        self.second_factor = SecondFactor(uow, self._throttle, box=box)
        self.sessions = Sessions(uow, tokens)
        self._admins_need_mfa = admins_need_mfa

    async def register(
        self, *, email: str, password: str, full_name: str, role: Role = Role.CUSTOMER
    ) -> User:
        check_password_policy(password, email=email)
        password_hash = await self._hasher.hash(password)
        async with self._uow() as uow:
            if await uow.users.get_by_email(email) is not None:
                raise EmailTaken("An account with this e-mail already exists", field="email")
            user = User.register(
                email=email, password_hash=password_hash, full_name=full_name, role=role
            )
            uow.users.add(user)
            try:
                await uow.commit()
            except ConstraintViolated as exc:  # a concurrent registration won the race
                raise EmailTaken("An account with this e-mail already exists") from exc
        metrics.USERS_REGISTERED.inc()
        return user

    # -- signing in ------------------------------------------------------------------------

    async def log_in(self, *, email: str, password: str) -> TokenPair:
        """A new session; ``MfaRequired`` (with the token for the code step) when the
        account has two-factor on."""
        user = await self.check_credentials(email=email, password=password)
        if user.two_factor_enabled:
            raise MfaRequired(
                "Two-factor authentication is on: send the code with the mfa_token",
                mfa_token=self._tokens.issue_mfa(user.id, user.token_version),
                expires_in=self._tokens.lifetime(TokenType.MFA),
            )
        return await self.sessions.open(user)

    async def complete_mfa_login(self, *, mfa_token: str, code: str) -> TokenPair:
        """The code step: the password step's token and a TOTP or recovery code."""
        claims = self._tokens.decode(mfa_token, TokenType.MFA)
        user = await self.second_factor.verify(user_id=claims.user_id, code=code)
        if not user.is_active or user.token_version != claims.version:
            raise InvalidToken("The token is no longer valid")
        return await self.sessions.open(user)

    async def check_credentials(self, *, email: str, password: str) -> User:
        """The active account these credentials open (the API's token login, the panel's),
        under the account's lockout (services/lockout.py). For a two-factor account the
        code is still to be checked (``second_factor.verify``)."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get_by_email(email)
        now = datetime.now(UTC)
        if user is not None:
            self._throttle.check(user, now)  # refused unchecked while the delay runs
        ok = await self._hasher.verify(password, user.password_hash if user else None)
        if user is None or not ok:
            if user is not None:
                await self._throttle.failed(user.id, now)
            raise InvalidCredentials("Incorrect e-mail or password")
        if not user.is_active:
            raise AccountDisabled("This account has been deactivated")
        if not user.two_factor_enabled and (user.failed_logins or user.locked_until):
            async with self._uow() as uow:
                await Throttle.succeeded(uow, user)
                await uow.commit()
        return user

    # -- sessions (services/sessions.py) --------------------------------------------------

    async def refresh(self, *, refresh_token: str) -> TokenPair:
        return await self.sessions.refresh(refresh_token=refresh_token)

    async def authenticate(self, *, access_token: str) -> User:
        """The user of an access token, held to the two-factor rule for administrators."""
        user = (await self.sessions.signed_in(access_token=access_token)).user
        self.check_enrollment(user)
        return user

    def check_enrollment(self, user: User | Viewer) -> None:
        """An administrator without two-factor, where administrators need it, may only
        enrol (and sign out)."""
        if self._admins_need_mfa and user.is_admin and not user.two_factor_enabled:
            raise MfaEnrollmentRequired(
                "Administrators must turn on two-factor first: POST /api/v1/auth/2fa/setup"
            )

    # -- profile and administration --------------------------------------------------------

    async def update_profile(
        self,
        *,
        user_id: uuid.UUID,
        full_name: str | None = None,
        password: str | None = None,
        current_password: str | None = None,
    ) -> User:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise UserNotFound("No such user")
            if full_name is not None:
                user.full_name = full_name.strip()
            if password is not None:
                if current_password is None or not await self._hasher.verify(
                    current_password, user.password_hash
                ):
                    raise WrongCurrentPassword(
                        "The current password is missing or wrong", field="current_password"
                    )
                check_password_policy(password, email=user.email)
                user.change_password(await self._hasher.hash(password))
            await uow.commit()
            return user

    async def list_users(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        async with self._uow(read_only=True) as uow:
            return await uow.users.list(limit=limit, offset=offset)

    async def get_user(self, *, user_id: uuid.UUID) -> User:
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise UserNotFound(f"No user with id {user_id}")
        return user

    async def change_access(
        self,
        *,
        actor: User,
        user_id: uuid.UUID,
        role: Role | None = None,
        is_active: bool | None = None,
    ) -> User:
        """An admin changes someone's role or deactivates them (never their own access)."""
        if not actor.is_admin:
            raise AdminOnly("Only administrators may change roles or deactivate accounts")
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise UserNotFound(f"No user with id {user_id}")
            if user.id == actor.id and (
                (role is not None and role is not Role.ADMIN) or is_active is False
            ):
                raise SelfLockout("Administrators cannot demote or deactivate themselves")
            if role is not None:
                user.role = role
            if is_active is not None:
                user.set_active(is_active)
            await uow.commit()
            return user

    async def deactivate(self, *, email: str) -> User:
        """An operator with database access (``orderly users deactivate``) shuts an account:
        its tokens are revoked at once. The last active administrator stays, or nobody could
        sign in to the panel and the API's admin routes."""
        async with self._uow() as uow:
            user = await uow.users.get_by_email(User.normalize_email(email))
            if user is None:
                raise UserNotFound(f"No user with e-mail {email}", field="email")
            admins = await uow.users.active_admins() if user.is_admin else []
            if [admin.id for admin in admins] == [user.id]:
                raise SelfLockout("The last active administrator cannot be deactivated")
            user.set_active(False)
            await uow.commit()
            return user
