"""Shapes shared by every resource: pages and problem details."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

MAX_PAGE_SIZE = 100


def _refuse_strings_and_booleans(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_refuse_strings_and_booleans)]
"""An integer as JSON Schema counts one: 3 and 3.0 (StrictInt refused 3.0), never "3" or true."""


def _refuse_non_strings(value: Any) -> Any:
    if not isinstance(value, str | date):
        raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")
    return value


JsonDate = Annotated[date, BeforeValidator(_refuse_non_strings)]
"""A date as the document says (a YYYY-MM-DD string); pydantic alone also took 0 or 1.5e9 as
a Unix time."""

JsonDateTime = Annotated[AwareDatetime, BeforeValidator(_refuse_non_strings)]
"""A date-time with its offset, as an RFC 3339 string (not a Unix time)."""


class Pagination(BaseModel):
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 20
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


PaginationQuery = Annotated[Pagination, Query()]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class RequestModel(BaseModel):
    """Request bodies reject unknown fields, so a misspelt or forbidden field is a 422."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FieldError(BaseModel):
    field: str
    message: str
    type: str
    location: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, served as application/problem+json. ``code`` names the
    problem (``insufficient-stock``); ``type`` is the same name as a URN. Only a plain HTTP
    error (an unknown path, a method not allowed) has no code, and ``type`` about:blank."""

    type: str = "about:blank"
    title: str
    status: int
    code: str | None = None
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
