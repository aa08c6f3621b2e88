"""TOTP two-factor (RFC 6238, pyotp) for any account, with single-use recovery codes.

Enrolment is two steps: ``begin`` stores a new secret and returns it with its otpauth://
URI (for a QR code); ``confirm`` with a code from the app turns two-factor on and returns 10
recovery codes, shown once and stored hashed. A code is accepted for the current 30 s step
and one step either side (clock drift), and each step opens the account once (the last
accepted step is stored). Every wrong code counts towards the account's lockout
(services/lockout.py), so codes cannot be guessed faster than passwords.

The secrets are stored sealed (``orderly.core.crypto.SecretBox``, keys from
ORDERLY_DATA_KEYS): the server needs them back to compute codes, so they cannot be hashed,
and a copy of the database without the keys gives no second factor away. ``reseal`` seals
every one again with the newest key (``orderly keys reseal``, for a key rotation).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import structlog
from pyotp.exceptions import OTPVerificationError

from orderly.core.crypto import SecretBox, UnreadableSecret
from orderly.core.errors import Conflict, Forbidden, Unprocessable
from orderly.models import User
from orderly.models.account import secret_hash
from orderly.services.lockout import Throttle
from orderly.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

ISSUER = "orderly"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class InvalidMfaCode(Unprocessable):
    """The two-factor code (or recovery code) is wrong, expired or already used."""

    code = "invalid-mfa-code"


class TwoFactorAlreadyEnabled(Conflict):
    """Two-factor is already on for this account; disable it first to enrol again."""

    code = "mfa-already-enabled"


class TwoFactorNotEnabled(Conflict):
    """Two-factor is not on for this account (for `confirm`: call `setup` first)."""

    code = "mfa-not-enabled"


class TwoFactorRequiredForAdmins(Forbidden):
    """Administrators must keep two-factor on (ORDERLY_ADMIN_REQUIRE_MFA)."""

    code = "mfa-required-for-admins"


@dataclass(frozen=True, slots=True)
class Enrollment:
    secret: str
    otpauth_uri: str


def new_recovery_codes() -> list[str]:
    """``xxxxx-xxxxx`` from a 31-letter alphabet: 49 bits each."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    raw = "".join(ch for ch in code.lower() if ch.isalnum())
    return f"{raw[:5]}-{raw[5:]}"


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code this is (now, or one step either side), or None."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    try:
        step = pyotp.TOTP(secret).verify_and_get_timecode(code, for_time=now, valid_window=1)
    except OTPVerificationError:
        return None
    return step if isinstance(step, int) else None


class SecondFactor:
    """Checks a code for an account, under the lockout: the one way codes are checked (API
    login step, admin panel sign-in, confirming, disabling, new recovery codes)."""

    def __init__(self, uow: UnitOfWorkFactory, throttle: Throttle, *, box: SecretBox) -> None:
        self._uow = uow
        self._throttle = throttle
        self._box = box

    async def verify(
        self, *, user_id: uuid.UUID, code: str, enrolling: bool = False, recovery: bool = True
    ) -> User:
        """The account, once the code is accepted (and used up); ``enrolling``: check against
        the secret not yet confirmed. Raises ``InvalidMfaCode`` or ``AccountLocked``."""
        now = datetime.now(UTC)
        code = code.strip()
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.totp_secret is None:
                raise TwoFactorNotEnabled("Two-factor is not set up for this account")
            if user.two_factor_enabled is enrolling:
                raise (TwoFactorAlreadyEnabled if enrolling else TwoFactorNotEnabled)(
                    "Two-factor is already on" if enrolling else "Two-factor is not on"
                )
            self._throttle.check(user, now)
            accepted = await self._accept(uow, user, code, now, recovery=recovery)
            if accepted:
                await Throttle.succeeded(uow, user)
                await uow.commit()
                return user
        await self._throttle.failed(user_id, now)
        raise InvalidMfaCode("The code is wrong, expired or already used", field="code")

    async def _accept(
        self, uow: UnitOfWork, user: User, code: str, now: datetime, *, recovery: bool
    ) -> bool:
        seed = self._seed(user)
        step = matching_step(seed, code, now) if seed is not None else None
        if seed is not None and step is not None:
            if seed == user.totp_secret:  # stored as it is, before sealing began
                user.totp_secret = self._box.seal(seed)
            return await uow.accounts.accept_totp_step(user.id, step)
        if not recovery or not user.two_factor_enabled:
            return False
        code_hash = secret_hash(normalize_recovery_code(code))
        return await uow.accounts.use_recovery_code(user.id, code_hash, now=now)

    def _seed(self, user: User) -> str | None:
        """The account's seed; None if no configured key opens it (a key dropped before
        ``orderly keys reseal`` ran): logged, and recovery codes still work."""
        assert user.totp_secret is not None  # noqa: S101 - checked by the caller
        try:
            return self._box.open(user.totp_secret)
        except UnreadableSecret:
            log.error("totp_secret_unreadable", user_id=str(user.id))
            return None


@dataclass(frozen=True, slots=True)
class Resealed:
    resealed: int
    unreadable: list[uuid.UUID]  # accounts whose seed no configured key opens


class TwoFactorService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        second_factor: SecondFactor,
        box: SecretBox,
        admins_need_mfa: bool,
    ) -> None:
        self._uow = uow
        self._second_factor = second_factor
        self._box = box
        self._admins_need_mfa = admins_need_mfa

    async def begin(self, *, user_id: uuid.UUID) -> Enrollment:
        """A new secret, pending until confirmed (replaces an earlier pending one)."""
        secret = pyotp.random_base32()
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.two_factor_enabled:
                raise TwoFactorAlreadyEnabled("Two-factor is already on; disable it first")
            user.totp_secret = self._box.seal(secret)
            user.totp_last_step = None
            await uow.commit()
            email = user.email
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
        return Enrollment(secret=secret, otpauth_uri=uri)

    async def confirm(self, *, user_id: uuid.UUID, code: str) -> list[str]:
        """Turn two-factor on with a code from the app; the recovery codes, shown once."""
        await self._second_factor.verify(user_id=user_id, code=code, enrolling=True)
        codes = new_recovery_codes()
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.two_factor_enabled:
                raise TwoFactorAlreadyEnabled("Two-factor is already on")
            user.totp_enabled_at = datetime.now(UTC)
            await uow.accounts.replace_recovery_codes(user_id, [secret_hash(c) for c in codes])
            await uow.commit()
        return codes

    async def disable(self, *, user_id: uuid.UUID, code: str) -> None:
        """Turn two-factor off with a code or a recovery code (never for an administrator
        while administrators must have it)."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is not None and user.is_admin and self._admins_need_mfa:
            raise TwoFactorRequiredForAdmins("Administrators must keep two-factor on")
        await self._second_factor.verify(user_id=user_id, code=code)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise TwoFactorNotEnabled("Two-factor is not on")
            user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
            await uow.accounts.delete_recovery_codes(user_id)
            await uow.commit()

    async def new_recovery_codes(self, *, user_id: uuid.UUID, code: str) -> list[str]:
        """Replace the recovery codes (the old ones stop working), with a code from the app."""
        await self._second_factor.verify(user_id=user_id, code=code, recovery=False)
        codes = new_recovery_codes()
        async with self._uow() as uow:
            await uow.accounts.replace_recovery_codes(user_id, [secret_hash(c) for c in codes])
            await uow.commit()
        return codes

    async def reseal(self, *, batch: int = 500) -> Resealed:
        """Seal every stored seed again with the newest key (a key rotation: afterwards the
        older keys can go), one transaction per ``batch`` accounts. A seed changed meanwhile
        (enrolment, disabling) is left as that change wrote it, already under the newest key;
        one no key opens is reported, not changed."""
        resealed, unreadable, after = 0, [], uuid.UUID(int=0)
        while True:
            async with self._uow() as uow:
                stored = await uow.users.totp_secrets(after=after, limit=batch)
                for user_id, value in stored:
                    try:
                        sealed = self._box.reseal(value)
                    except UnreadableSecret:
                        unreadable.append(user_id)
                        continue
                    resealed += await uow.users.replace_totp_secret(user_id, value, sealed)
                await uow.commit()
            if len(stored) < batch:
                return Resealed(resealed, unreadable)
            after = stored[-1][0]

    async def recovery_codes_left(self, *, user_id: uuid.UUID) -> int:
        async with self._uow(read_only=True) as uow:
            return await uow.accounts.recovery_codes_left(user_id)
