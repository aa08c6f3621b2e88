"""Cursor connections over the same keyset pages as API v2 (``api/v2/cursor.py`` cursors,
``repositories/paging.py`` statements): ``first`` at most the REST page size, ``after`` an
opaque cursor of the listing it came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orderly.api.v2 import cursor
from orderly.graphql.errors import InvalidArgument
from orderly.schemas.common import MAX_PAGE_SIZE

DEFAULT_PAGE_SIZE = 20


def page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"first must be between 1 and {MAX_PAGE_SIZE}", argument="first")
    return first


def after_key(
    after: str | None, kind: str, expect: type | tuple[type, ...] = (str, int)
) -> tuple[Any, Any] | None:
    """The (sort value, id) ``after`` carries; ``validation-failed`` naming ``after`` if it is
    not a cursor of this listing."""
    if after is None:
        return None
    if len(after) > 512:
        raise InvalidArgument("The cursor is not valid for this listing", argument="after")
    try:
        return cursor.decode(after, kind, expect)
    except cursor.InvalidCursor as exc:
        raise InvalidArgument(exc.detail, argument="after") from None


def item_listing(sort_value: str) -> tuple[str, type | tuple[type, ...]]:
    """The cursor kind of a catalog listing in this order, and its sort value's type."""
    expect = datetime if sort_value.endswith("created") else (str, int)
    return f"items:{sort_value}", expect


encode = cursor.encode
ORDERS = "orders"
USERS = "users"
