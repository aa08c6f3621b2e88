"""``/graphql``: Strawberry's FastAPI router with orderly's context, GraphiQL served from
orderly itself (``ide.py``), and subscriptions over graphql-transport-ws authenticated by the
``connection_init`` payload (``{"Authorization": "Bearer ..."}``)."""

from __future__ import annotations

from datetime import timedelta

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from orderly.core.config import Settings
from orderly.core.errors import DomainError
from orderly.graphql import ide
from orderly.graphql.context import GraphQLContext, bearer_token, get_context
from orderly.graphql.schema import build_schema, default_on

PATH = "/graphql"


class OrderlyGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
    def encode_json(self, data: object) -> bytes:
        """Answers encoded by pydantic-core, as REST's are: a page of 20 items in about a
        third of ``json.dumps``'s time."""
        return pydantic_core.to_json(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return ide.graphiql_page(root + PATH, root + ide.STATIC)

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """A token in the ``connection_init`` payload replaces the handshake's header; a
        bad one closes the connection (4403) before any subscription starts."""
        params = context.connection_params
        offered = params.get("Authorization") or params.get("authorization") if params else None
        if offered is not None:
            context.token = bearer_token(offered)
            try:
                await context.user()
            except DomainError as exc:
                raise ConnectionRejectionError({"code": exc.code, "message": exc.detail}) from exc
        return await super().on_ws_connect(context)


def install_graphql(app: FastAPI, settings: Settings) -> None:
    """Mount ``/graphql`` (and GraphiQL's files when GraphiQL is on)."""
    graphiql = default_on(settings.graphql_ide, settings)
    router = OrderlyGraphQLRouter(
        build_schema(settings),
        path=PATH,
        graphql_ide="graphiql" if graphiql else None,
        allow_queries_via_get=False,
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        # like the REST WebSocket: a client that does not sign in (connection_init) in time
        # is closed (4408), so silent sockets do not stay open for Strawberry's default minute
        connection_init_wait_timeout=timedelta(seconds=settings.live_auth_timeout),
        allowed_origins=settings.cors_origins,
        include_in_schema=False,
    )
    app.include_router(router)
    if graphiql:
        ide.mount_assets(app)
