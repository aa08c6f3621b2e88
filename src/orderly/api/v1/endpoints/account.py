"""Password reset and e-mail verification: the tokens arrive by mail. Each call is counted
against the per-address budget ORDERLY_RATE_LIMIT_ACCOUNT."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from orderly.api.deps import SignedInSession, get_container, limit_by_client
from orderly.api.openapi import problem_responses, raises
from orderly.api.problems import BackendUnavailable
from orderly.container import Container
from orderly.core.gate import DatabaseBusy
from orderly.core.ratelimit import LimitScope
from orderly.schemas.account import (
    Accepted,
    EmailVerification,
    PasswordResetConfirm,
    PasswordResetRequest,
)
from orderly.schemas.users import UserRead
from orderly.services.account_tokens import (
    AccountTokens,
    EmailAlreadyVerified,
    ResetTokenInvalid,
    VerificationTokenInvalid,
)
from orderly.services.users import UserNotFound, WeakPassword

router = APIRouter(
    prefix="/auth",
    tags=["account"],
    dependencies=[Depends(limit_by_client(LimitScope.ACCOUNT))],
)


@raises(BackendUnavailable, DatabaseBusy)
async def get_account_tokens(
    container: Annotated[Container, Depends(get_container)],
) -> AccountTokens:
    return container.account_tokens


Tokens = Annotated[AccountTokens, Depends(get_account_tokens)]

RESET_ASKED = (
    "If an account uses this address, a reset token is on its way; it is valid for 30 minutes"
)


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED)
async def request_password_reset(body: PasswordResetRequest, tokens: Tokens) -> Accepted:
    """Mails a reset token to the address if it has an account. The answer is the same for
    every address, and takes the same work: the address is looked up by the mail job."""
    await tokens.request_password_reset(email=body.email)
    return Accepted(detail=RESET_ASKED)


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(ResetTokenInvalid, WeakPassword),
)
async def confirm_password_reset(body: PasswordResetConfirm, tokens: Tokens) -> None:
    """Sets the new password (the registration rules apply) and ends every session."""
    await tokens.reset_password(token=body.token, password=body.password)


@router.post("/verify-email", responses=problem_responses(VerificationTokenInvalid))
async def verify_email(body: EmailVerification, tokens: Tokens) -> UserRead:
    return UserRead.model_validate(await tokens.verify_email(token=body.token))


@router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(EmailAlreadyVerified, UserNotFound),
)
async def resend_verification(signed_in: SignedInSession, tokens: Tokens) -> Accepted:
    """A new verification token by mail (at most one a minute)."""
    await tokens.request_verification(user_id=signed_in.user.id)
    return Accepted(detail="A new verification token is on its way")
