"""GraphQL errors: a domain error carries its problem code; an unexpected one is logged and,
with masking on (production), answered without its message."""

from __future__ import annotations

import strawberry

from orderly.graphql.errors import MASKED_MESSAGE, CodedSchema, MaskUnexpected
from orderly.services.orders import OrderNotFound


@strawberry.type
class Query:
    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("secret internals: password=hunter2")

    @strawberry.field
    def missing(self) -> str:
        raise OrderNotFound("No order with id 1")


def schema(*, mask: bool) -> strawberry.Schema:
    return CodedSchema(query=Query, extensions=[MaskUnexpected] if mask else [])


async def test_domain_errors_keep_their_code_and_message_when_masked() -> None:
    result = await schema(mask=True).execute("{ missing }")
    assert result.errors is not None
    (error,) = result.errors
    assert error.message == "No order with id 1"
    assert error.extensions == {"code": "order-not-found"}


async def test_unexpected_errors_are_masked_in_production() -> None:
    masked = await schema(mask=True).execute("{ broken }")
    assert masked.errors is not None
    assert [e.message for e in masked.errors] == [MASKED_MESSAGE]
    assert masked.errors[0].extensions == {"code": "internal-error"}
    shown = await schema(mask=False).execute("{ broken }")
    assert shown.errors is not None
    assert "secret internals" in shown.errors[0].message
    assert shown.errors[0].extensions == {"code": "internal-error"}
