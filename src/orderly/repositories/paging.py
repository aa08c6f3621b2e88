"""Pages: offset pages with their total in one round trip, keyset pages of ``:limit`` rows."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@lru_cache(maxsize=512)
def _total(statement: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(statement.order_by(None).subquery())


@lru_cache(maxsize=512)
def _counted(statement: Select[Any]) -> Select[Any]:
    """``statement`` with its total alongside and the page bounds bound: built once."""
    return (
        statement.add_columns(_total(statement).scalar_subquery())
        .limit(bindparam("page_limit", type_=Integer))
        .offset(bindparam("page_offset", type_=Integer))
    )


@lru_cache(maxsize=512)
def first_rows(statement: Select[T]) -> Select[T]:
    """``statement`` limited to ``:limit`` rows (a keyset page), built once per statement."""
    return statement.limit(bindparam("limit", type_=Integer))


async def page_with_total(
    session: AsyncSession,
    statement: Select[T],
    *,
    limit: int,
    offset: int,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[T], int]:
    """The rows of ``statement`` (filtered and ordered, values as bound ``params``) from
    ``offset``, and how many there are in all.

    The count rides along with the page as a scalar subquery (run once, before the page),
    so a page costs one round trip; only a page past the end (no row to carry the count)
    asks for the count alone. Not ``count(*) OVER ()``: a window makes PostgreSQL sort every
    matching row before the LIMIT (0.8 ms a catalog page, against 0.35 ms for the page
    by index plus the count). The count reads every matching row: offset totals suit
    bounded lists; unbounded ones page by keyset (API v2). ``statement`` should be built once (a
    module constant or a cached builder): the page statements derived from it are cached
    by its identity.
    """
    values = {**(params or {}), "page_limit": limit, "page_offset": offset}
    # unique(): a joined eager load of a collection repeats the parent row per child
    rows = (await session.execute(_counted(statement), values)).unique().all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if offset == 0:
        return [], 0
    return [], int((await session.scalar(_total(statement), dict(params or {}))) or 0)
