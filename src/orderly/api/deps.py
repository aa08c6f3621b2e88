"""FastAPI dependencies: the container's services, the current user, the admin guard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from orderly.api.openapi import raises
from orderly.api.problems import BackendUnavailable
from orderly.container import Container
from orderly.core.errors import Forbidden, Unauthorized
from orderly.core.gate import DatabaseBusy
from orderly.core.ratelimit import LimitScope, RateLimited
from orderly.core.security import InvalidToken
from orderly.models import User
from orderly.services.catalog import CatalogService
from orderly.services.orders import OrderService
from orderly.services.payments import PaymentService
from orderly.services.sessions import SignedIn, Viewer
from orderly.services.users import MfaEnrollmentRequired, UserService

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class NotAuthenticated(Unauthorized):
    code = "not-authenticated"


class AdminRequired(Forbidden):
    code = "admin-required"


# Dependencies are ``async def`` even when they do no I/O: FastAPI runs a plain ``def``
# dependency in a thread pool, two thread hops per request (seen in the benchmark profile).
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


# A service reaches the database: 503 when it is down or every connection stays busy.
@raises(BackendUnavailable, DatabaseBusy)
async def get_user_service(container: Annotated[Container, Depends(get_container)]) -> UserService:
    return container.users


@raises(BackendUnavailable, DatabaseBusy)
async def get_catalog_service(
    container: Annotated[Container, Depends(get_container)],
) -> CatalogService:
    return container.catalog


@raises(BackendUnavailable, DatabaseBusy)
async def get_order_service(
    container: Annotated[Container, Depends(get_container)],
) -> OrderService:
    return container.orders


@raises(BackendUnavailable, DatabaseBusy)
async def get_payment_service(
    container: Annotated[Container, Depends(get_container)],
) -> PaymentService:
    return container.payments


Users = Annotated[UserService, Depends(get_user_service)]
Orders = Annotated[OrderService, Depends(get_order_service)]
Payments = Annotated[PaymentService, Depends(get_payment_service)]
Catalog = Annotated[CatalogService, Depends(get_catalog_service)]


@raises(NotAuthenticated, InvalidToken)
async def get_signed_in(
    request: Request, users: Users, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> SignedIn:
    """The access token's user and session, whatever the two-factor rule for admins."""
    signed_in = await users.sessions.signed_in(access_token=_required(token))
    _note_user(request, signed_in.user.id)
    return signed_in


def _required(token: str | None) -> str:
    if not token:
        raise NotAuthenticated("Log in and send the access token as 'Authorization: Bearer ...'")
    return token


def _note_user(request: Request, user_id: uuid.UUID) -> None:
    """Who is signed in, for the access log and error reports."""
    request.state.user_id = str(user_id)
    structlog.contextvars.bind_contextvars(user_id=str(user_id))


SignedInSession = Annotated[SignedIn, Depends(get_signed_in)]


@raises(MfaEnrollmentRequired)
async def get_current_user(signed_in: SignedInSession, users: Users) -> User:
    """The signed-in user; an administrator who must enrol in two-factor may only do that."""
    users.check_enrollment(signed_in.user)
    return signed_in.user


CurrentUser = Annotated[User, Depends(get_current_user)]


@raises(NotAuthenticated, InvalidToken, MfaEnrollmentRequired)
async def get_viewer(
    request: Request,
    users: Users,
    container: Annotated[Container, Depends(get_container)],
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> AsyncIterator[Viewer]:
    """``get_current_user``'s checks for a request that only reads: the account's id and
    role, read with the session check, without loading the user entity. The request's
    reads share the check's connection until the endpoint returns."""
    async with container.shared_reads():
        viewer = await users.sessions.viewer(access_token=_required(token))
        _note_user(request, viewer.id)
        users.check_enrollment(viewer)
        yield viewer


# scope="function": the connection goes back to the pool before the response is sent.
CurrentViewer = Annotated[Viewer, Depends(get_viewer, scope="function")]


@raises(RateLimited)
async def get_writer(
    user: CurrentUser, container: Annotated[Container, Depends(get_container)]
) -> User:
    """The current user, counted against the per-user budget for writes."""
    await container.rate_limiter.check(LimitScope.WRITE, str(user.id))
    return user


Writer = Annotated[User, Depends(get_writer)]


@raises(AdminRequired)
async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise AdminRequired("This action needs an administrator")
    return user


@raises(AdminRequired)
async def get_admin_writer(user: Writer) -> User:
    return await get_admin(user)


Admin = Annotated[User, Depends(get_admin)]
AdminWriter = Annotated[User, Depends(get_admin_writer)]


def limit_by_client(scope: LimitScope) -> Callable[..., Awaitable[None]]:
    """A dependency that counts the request against ``scope``'s budget for its client address."""

    @raises(RateLimited)
    async def check(
        request: Request, container: Annotated[Container, Depends(get_container)]
    ) -> None:
        client = request.client.host if request.client else "unknown"
        await container.rate_limiter.check(scope, client)

    return check
