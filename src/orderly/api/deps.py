"""FastAPI dependencies: the container's services, the current user, the admin guard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from orderly.container import Container
from orderly.core.errors import Forbidden, Unauthorized
from orderly.models import User
from orderly.services.catalog import CatalogService
from orderly.services.orders import OrderService
from orderly.services.users import UserService

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class NotAuthenticated(Unauthorized):
    code = "not-authenticated"


class AdminRequired(Forbidden):
    code = "admin-required"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_user_service(container: Annotated[Container, Depends(get_container)]) -> UserService:
    return container.users


def get_catalog_service(
    container: Annotated[Container, Depends(get_container)],
) -> CatalogService:
    return container.catalog


def get_order_service(container: Annotated[Container, Depends(get_container)]) -> OrderService:
    return container.orders


Users = Annotated[UserService, Depends(get_user_service)]
Orders = Annotated[OrderService, Depends(get_order_service)]
Catalog = Annotated[CatalogService, Depends(get_catalog_service)]


async def get_current_user(
    users: Users, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        raise NotAuthenticated("Log in and send the access token as 'Authorization: Bearer ...'")
    return await users.authenticate(access_token=token)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise AdminRequired("This action needs an administrator")
    return user


Admin = Annotated[User, Depends(get_admin)]
