"""Strings as the API accepts them (``SingleLine``, ``MultiLine``), and PATCH fields that
may be left out but not null (``Omittable``).

Text that reaches the database carries no control characters: PostgreSQL refuses a NUL byte
in a text value (a 500 if it got that far) and SQLite compares it as if it were not there;
an escape sequence in a name ends up in a log line or an operator's terminal.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str, *, line_breaks_allowed: bool = False) -> bool:
    """Whether ``text`` holds a control character (tab, CR, LF pass if ``line_breaks_allowed``)."""
    pattern = _CONTROL_EXCEPT_LINE_BREAKS if line_breaks_allowed else _CONTROL
    return pattern.search(text) is not None


class _PlainText:
    """Refuses control characters, and says so in the JSON schema as a ``pattern``, so that a
    client (or a fuzzer) reading the OpenAPI document knows which strings are accepted."""

    def __init__(self, *, line_breaks_allowed: bool, allowed: str, message: str) -> None:
        self._line_breaks_allowed = line_breaks_allowed
        self._allowed = allowed
        self._message = message

    def _check(self, text: str) -> str:
        if has_control_characters(text, line_breaks_allowed=self._line_breaks_allowed):
            raise PydanticCustomError("control_character", self._message)
        return text

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self._allowed)
        return json_schema


# Put last in a string's ``Annotated[str, Field(...), SingleLine]``: after the length
# constraints, which then keep their string messages ("at most 200 characters").
SingleLine = _PlainText(
    line_breaks_allowed=False,
    allowed="^[^\\x00-\\x1f\\x7f]*$",
    message="must not contain control characters (such as NUL or a tab)",
)
"""One line of text: a name, a search, an e-mail, a password."""

MultiLine = _PlainText(
    line_breaks_allowed=True,
    allowed="^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$",
    message="must not contain control characters other than tab and line breaks",
)
"""Free text that may keep its tabs and line breaks: a description."""


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError(
            "null_not_allowed", "must not be null; leave the field out to keep it unchanged"
        )
    return value


class _NotNullable:
    """Drops the null branch from the field's JSON schema: validation refuses null."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        branches = [b for b in json_schema.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            json_schema.update(branches[0])
        elif branches:
            json_schema["anyOf"] = branches
        return json_schema


T = TypeVar("T")

Omittable = Annotated[T | None, BeforeValidator(_refuse_null), _NotNullable()]
"""A field of a PATCH body: left out, it reads as None and nothing changes; sent as null, it
is a 422 naming the field (and the OpenAPI document shows it as not nullable)."""
