"""Two-factor enrolment for the signed-in account (an administrator who must enrol may
reach these, and nothing else): each call counts against the per-user write budget, and a
wrong code against the account's lockout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from orderly.api.deps import SignedInSession, get_container
from orderly.api.openapi import problem_responses, raises
from orderly.api.problems import BackendUnavailable
from orderly.container import Container
from orderly.core.gate import DatabaseBusy
from orderly.core.ratelimit import LimitScope, RateLimited
from orderly.schemas.account import (
    RecoveryCodes,
    TwoFactorCode,
    TwoFactorEnrollment,
    TwoFactorStatus,
)
from orderly.services.lockout import AccountLocked
from orderly.services.sessions import SignedIn
from orderly.services.two_factor import (
    InvalidMfaCode,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
    TwoFactorRequiredForAdmins,
    TwoFactorService,
)

router = APIRouter(prefix="/auth/2fa", tags=["account"])


@raises(BackendUnavailable, DatabaseBusy)
async def get_two_factor(
    container: Annotated[Container, Depends(get_container)],
) -> TwoFactorService:
    return container.two_factor


@raises(RateLimited)
async def get_enrolling(
    signed_in: SignedInSession, container: Annotated[Container, Depends(get_container)]
) -> SignedIn:
    """The signed-in account, counted against the per-user budget for writes."""
    await container.rate_limiter.check(LimitScope.WRITE, str(signed_in.user.id))
    return signed_in


TwoFactor = Annotated[TwoFactorService, Depends(get_two_factor)]
Enrolling = Annotated[SignedIn, Depends(get_enrolling)]
CODE_PROBLEMS = (InvalidMfaCode, AccountLocked, TwoFactorNotEnabled)


@router.get("")
async def two_factor_status(signed_in: SignedInSession, two_factor: TwoFactor) -> TwoFactorStatus:
    user = signed_in.user
    left = await two_factor.recovery_codes_left(user_id=user.id)
    return TwoFactorStatus(enabled=user.two_factor_enabled, recovery_codes_left=left)


@router.post("/setup", responses=problem_responses(TwoFactorAlreadyEnabled))
async def begin_two_factor(signed_in: Enrolling, two_factor: TwoFactor) -> TwoFactorEnrollment:
    """A new secret for the authenticator app; two-factor is on once a code confirms it."""
    enrollment = await two_factor.begin(user_id=signed_in.user.id)
    return TwoFactorEnrollment(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)


@router.post(
    "/confirm",
    responses=problem_responses(*CODE_PROBLEMS, TwoFactorAlreadyEnabled),
)
async def confirm_two_factor(
    body: TwoFactorCode, signed_in: Enrolling, two_factor: TwoFactor
) -> RecoveryCodes:
    """Turns two-factor on with a code from the app; returns the 10 recovery codes once."""
    codes = await two_factor.confirm(user_id=signed_in.user.id, code=body.code)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*CODE_PROBLEMS, TwoFactorRequiredForAdmins),
)
async def disable_two_factor(
    body: TwoFactorCode, signed_in: Enrolling, two_factor: TwoFactor
) -> None:
    """With a code from the app or a recovery code."""
    await two_factor.disable(user_id=signed_in.user.id, code=body.code)


@router.post("/recovery-codes", responses=problem_responses(*CODE_PROBLEMS))
async def new_recovery_codes(
    body: TwoFactorCode, signed_in: Enrolling, two_factor: TwoFactor
) -> RecoveryCodes:
    """Replaces the recovery codes, with a code from the app (not a recovery code)."""
    codes = await two_factor.new_recovery_codes(user_id=signed_in.user.id, code=body.code)
    return RecoveryCodes(recovery_codes=codes)
