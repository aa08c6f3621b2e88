"""Registration, sign-in (the OAuth2 password flow, then the code step for two-factor
accounts), token refresh with rotation, and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, status

from orderly.api.deps import SignedInSession, Users, limit_by_client
from orderly.api.openapi import problem_responses
from orderly.core.ratelimit import LimitScope
from orderly.core.security import InvalidToken, TokenPair
from orderly.schemas.account import MfaLoginRequest
from orderly.schemas.auth import RefreshRequest, RegisterRequest, TokenForm, TokenResponse
from orderly.schemas.users import UserRead
from orderly.services.lockout import AccountLocked
from orderly.services.sessions import RefreshTokenReused
from orderly.services.two_factor import InvalidMfaCode, TwoFactorNotEnabled
from orderly.services.users import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    MfaRequired,
    WeakPassword,
)

router = APIRouter(prefix="/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(EmailTaken, WeakPassword),
    dependencies=[Depends(limit_by_client(LimitScope.REGISTER))],
)
async def register(body: RegisterRequest, users: Users) -> UserRead:
    """Opens a customer account; the welcome mail carries the e-mail verification token."""
    user = await users.register(email=body.email, password=body.password, full_name=body.full_name)
    return UserRead.model_validate(user)


@router.post(
    "/token",
    responses=problem_responses(InvalidCredentials, AccountDisabled, MfaRequired, AccountLocked),
    dependencies=[Depends(limit_by_client(LimitScope.LOGIN))],
)
async def token(form: Annotated[TokenForm, Form()], users: Users) -> TokenResponse:
    """OAuth2 password flow: `username` is the e-mail address. An account with two-factor
    on answers 403 `mfa-required` with an `mfa_token` (5 minutes) for `/auth/token/mfa`."""
    return _tokens(await users.log_in(email=form.username, password=form.password))


@router.post(
    "/token/mfa",
    responses=problem_responses(InvalidToken, InvalidMfaCode, TwoFactorNotEnabled, AccountLocked),
    dependencies=[Depends(limit_by_client(LimitScope.LOGIN))],
)
async def token_with_code(body: MfaLoginRequest, users: Users) -> TokenResponse:
    """The second step of a two-factor sign-in: the `mfa_token` and a code from the
    authenticator app, or one of the recovery codes (each works once)."""
    return _tokens(await users.complete_mfa_login(mfa_token=body.mfa_token, code=body.code))


@router.post("/refresh", responses=problem_responses(InvalidToken, RefreshTokenReused))
async def refresh(body: RefreshRequest, users: Users) -> TokenResponse:
    """A new pair; the refresh token sent stops working. Sending it again ends the session."""
    return _tokens(await users.refresh(refresh_token=body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(signed_in: SignedInSession, users: Users) -> None:
    """Ends this session: its access and refresh tokens stop working."""
    await users.sessions.end(user_id=signed_in.user.id, session_id=signed_in.session_id)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_everywhere(signed_in: SignedInSession, users: Users) -> None:
    """Ends every session of the account, and its admin panel session."""
    await users.sessions.end_all(user_id=signed_in.user.id)
