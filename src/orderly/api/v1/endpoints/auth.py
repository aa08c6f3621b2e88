from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, status

from orderly.api.deps import Users, limit_by_client
from orderly.api.openapi import problem_responses
from orderly.core.ratelimit import LimitScope
from orderly.core.security import InvalidToken, TokenPair
from orderly.schemas.auth import RefreshRequest, RegisterRequest, TokenForm, TokenResponse
from orderly.schemas.users import UserRead
from orderly.services.users import AccountDisabled, EmailTaken, InvalidCredentials, WeakPassword

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
    user = await users.register(email=body.email, password=body.password, full_name=body.full_name)
    return UserRead.model_validate(user)


@router.post(
    "/token",
    responses=problem_responses(InvalidCredentials, AccountDisabled),
    dependencies=[Depends(limit_by_client(LimitScope.LOGIN))],
)
async def token(form: Annotated[TokenForm, Form()], users: Users) -> TokenResponse:
    """OAuth2 password flow: `username` is the e-mail address."""
    return _tokens(await users.log_in(email=form.username, password=form.password))


@router.post("/refresh", responses=problem_responses(InvalidToken))
async def refresh(body: RefreshRequest, users: Users) -> TokenResponse:
    return _tokens(await users.refresh(refresh_token=body.refresh_token))
