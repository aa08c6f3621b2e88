"""What every resolver of one request gets: the container's services, the caller (read from
the bearer token once, when a resolver first asks), and the request's own dataloaders.

Loaders are made per request (a loader shared between requests would hand one user's rows
to another from its cache). Each batch opens its own short read-only unit of work and closes
it before the loader's callers resume, so no resolver holds a unit of work, i.e. a slot of
the connection gate, while it awaits a loader.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import TypeAlias

import strawberry
import structlog
from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from orderly.api.deps import AdminRequired, NotAuthenticated
from orderly.container import Container
from orderly.core.ratelimit import LimitScope
from orderly.models import Item, Payment, User

# Ids per batch: an IN list of at most this many values (a page of 100 orders with 50 lines
# each names up to 5,000 items: a few batches, never one statement per row).
BATCH_SIZE = 1000


class Loaders:
    def __init__(self, container: Container) -> None:
        self._container = container
        self.items: DataLoader[uuid.UUID, Item | None] = DataLoader(
            self._items, max_batch_size=BATCH_SIZE
        )
        self.payments: DataLoader[uuid.UUID, list[Payment]] = DataLoader(
            self._payments, max_batch_size=BATCH_SIZE
        )

    async def _items(self, ids: list[uuid.UUID]) -> list[Item | None]:
        """Items by id, also those no longer sold (an order line still shows its item)."""
        async with self._container.uow(read_only=True) as uow:
            found = {item.id: item for item in await uow.items.get_many(ids)}
        return [found.get(item_id) for item_id in ids]

    async def _payments(self, order_ids: list[uuid.UUID]) -> list[list[Payment]]:
        """Payments by order id; only ever asked for orders the caller may see."""
        async with self._container.uow(read_only=True) as uow:
            found = await uow.payments.for_orders(order_ids)
        by_order: defaultdict[uuid.UUID, list[Payment]] = defaultdict(list)
        for payment in found:
            by_order[payment.order_id].append(payment)
        return [by_order[order_id] for order_id in order_ids]


def bearer_token(authorization: object) -> str | None:
    """The token of an ``Authorization: Bearer ...`` value (header or connection_init)."""
    if not isinstance(authorization, str):
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class GraphQLContext(BaseContext):
    def __init__(self, container: Container, *, token: str | None, client: str) -> None:
        super().__init__()
        self.container = container
        self.token = token
        self.client = client
        self.loaders = Loaders(container)
        self._user: asyncio.Task[User] | None = None

    async def user(self) -> User:
        """The caller; ``not-authenticated`` without a token, ``invalid-token`` with a bad one.
        Resolvers running side by side share one look-up."""
        if self.token is None:
            raise NotAuthenticated(
                "Log in and send the access token as 'Authorization: Bearer ...'"
            )
        if self._user is None:
            self._user = asyncio.ensure_future(self._authenticate(self.token))
        return await asyncio.shield(self._user)

    async def _authenticate(self, token: str) -> User:
        user = await self.container.users.authenticate(access_token=token)
        if self.request is not None:
            self.request.state.user_id = str(user.id)  # for the access log
        structlog.contextvars.bind_contextvars(user_id=str(user.id))
        return user

    async def admin(self) -> User:
        user = await self.user()
        if not user.is_admin:
            raise AdminRequired("This field needs an administrator")
        return user

    async def writer(self) -> User:
        """The caller, counted against the per-user budget for writes (as REST's)."""
        user = await self.user()
        await self.container.rate_limiter.check(LimitScope.WRITE, str(user.id))
        return user

    async def admin_writer(self) -> User:
        user = await self.writer()
        if not user.is_admin:
            raise AdminRequired("This action needs an administrator")
        return user


async def get_context(connection: HTTPConnection) -> GraphQLContext:
    """The context getter (a FastAPI dependency, for HTTP requests and WebSockets alike)."""
    container: Container = connection.app.state.container
    client = connection.client.host if connection.client else "unknown"
    token = bearer_token(connection.headers.get("authorization"))
    return GraphQLContext(container, token=token, client=client)


Info: TypeAlias = strawberry.Info[GraphQLContext, None]
