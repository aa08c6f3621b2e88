"""The schema and its protections, from settings: depth, token and alias limits, the page
size cap (``paging.page_size``), introspection on outside production, unexpected errors
masked in production. The SDL is kept in ``schema.graphql`` at the repository root
(``python -m orderly.graphql.sdl > schema.graphql``); a test fails when the two differ."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from orderly.core.config import Environment, Settings
from orderly.graphql.errors import CodedSchema, MaskUnexpected
from orderly.graphql.mutations import Mutation
from orderly.graphql.observability import OperationMetrics
from orderly.graphql.queries import Query
from orderly.graphql.subscriptions import Subscription


def default_on(setting: bool | None, settings: Settings) -> bool:
    """A switch that is on outside production unless set."""
    return setting if setting is not None else settings.environment is not Environment.PRODUCTION


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """``settings`` None: the bare schema (its SDL), without extensions."""
    if settings is None:
        return CodedSchema(query=Query, mutation=Mutation, subscription=Subscription)
    # Each is built per operation (a class or factory): no state shared between requests.
    # Codes are set as each result is made (CodedSchema), before masking and metrics.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [OperationMetrics]
    if settings.environment is Environment.PRODUCTION:
        extensions.append(MaskUnexpected)
    extensions += [
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
    ]
    if not default_on(settings.graphql_introspection, settings):
        extensions.append(DisableIntrospection)
    return CodedSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
