"""The schema and its protections, from settings: depth, token and alias limits, the page
size cap (``paging.page_size``), introspection on outside production, unexpected errors
masked in production. The SDL is kept in ``schema.graphql`` at the repository root
(``python -m orderly.graphql.sdl > schema.graphql``); a test fails when the two differ."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)

from orderly.core.config import Environment, Settings
from orderly.graphql.errors import CodedSchema, MaskUnexpected
from orderly.graphql.mutations import Mutation
from orderly.graphql.observability import OperationMetrics
from orderly.graphql.queries import Query
from orderly.graphql.subscriptions import Subscription

CACHED_DOCUMENTS = 256


def default_on(setting: bool | None, settings: Settings) -> bool:
    """A switch that is on outside production unless set."""
    return setting if setting is not None else settings.environment is not Environment.PRODUCTION


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    depth = query_depth_limiter.create_validator(settings.graphql_max_depth, None, None)
    return [depth, max_aliases.create_validator(settings.graphql_max_aliases)]


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
        # QueryDepthLimiter's and MaxAliasesLimiter's rules, made once: built per operation,
        # each would be a new class, and the validation cache (keyed by the rules) would
        # never hit.
        partial(AddValidationRules, limit_rules(settings)),
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
    ]
    if not default_on(settings.graphql_introspection, settings):
        extensions.append(DisableIntrospection)
    # A document seen before is neither parsed nor validated again (clients send the same
    # few documents); the limits above are validation rules, so a refused one stays refused.
    extensions += [partial(ParserCache, maxsize=CACHED_DOCUMENTS)]
    extensions += [partial(ValidationCache, maxsize=CACHED_DOCUMENTS)]
    return CodedSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
