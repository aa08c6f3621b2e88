"""Pages: offset pages with their total in one round trip, keyset pages of ``:limit`` rows."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

T = TypeVar("T")


Column = ColumnElement[Any] | QueryableAttribute[Any]


def newest_first(
    created: Column, key: Column, *, keyset: bool
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[Any]]]:
    """The one order of every newest-first listing (the write model's and the read model's,
    so REST, GraphQL and live snapshots page alike): by ``created`` descending, ties by
    ``key``, ascending on offset pages and descending on keyset pages, which resume after
    ``:after_created`` / ``:after_id``. Returns the keyset condition (if any) and the order."""
    if not keyset:
        return [], [created.desc(), key.asc()]
    after = bindparam("after_created", type_=created.type)
    resume = or_(created < after, and_(created == after, key < bindparam("after_id")))
    return [resume], [created.desc(), key.desc()]


@lru_cache(maxsize=512)
def _total(statement: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(statement.order_by(None).subquery())


@lru_cache(maxsize=512)
def _counted(statement: Select[Any]) -> tuple[Select[Any], bool]:
    """``statement`` with its total alongside and the page bounds bound, built once; and
    whether it selects an entity (else plain columns)."""
    counted = (
        statement.add_columns(_total(statement).scalar_subquery().label("page_total"))
        .limit(bindparam("page_limit", type_=Integer))
        .offset(bindparam("page_offset", type_=Integer))
    )
    return counted, statement.column_descriptions[0].get("entity") is not None


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
) -> tuple[list[Any], int]:
    """The rows of ``statement`` (filtered and ordered, values as bound ``params``) from
    ``offset``, and how many there are in all.

    The count rides along with the page as a scalar subquery (run once, before the page),
    so a page costs one round trip; only a page past the end (no row to carry the count)
    asks for the count alone. Not ``count(*) OVER ()``: a window makes PostgreSQL sort every
    matching row before the LIMIT, slower than reading the page by index plus the count.
    The count reads every matching row: offset totals suit bounded lists; unbounded ones
    page by keyset (API v2). ``statement`` should be built once (a module constant or a
    cached builder): the page statements derived from it are cached by its identity.

    A statement of one entity gives its entities; a statement of columns (a read side)
    gives its rows, which keep the total as a last column named ``page_total``.
    """
    values = {**(params or {}), "page_limit": limit, "page_offset": offset}
    counted, of_entities = _counted(statement)
    result = await session.execute(counted, values)
    if of_entities:
        # unique(): a joined eager load of a collection repeats the parent row per child
        entities = result.unique().all()
        if entities:
            return [row[0] for row in entities], int(entities[0][1])
    elif rows := result.all():
        return list(rows), int(rows[0].page_total)
    if offset == 0:
        return [], 0
    return [], int((await session.scalar(_total(statement), dict(params or {}))) or 0)
