"""Opaque keyset cursors: base64url JSON of the last row's sort value and id."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from starlette.datastructures import URL

from orderly.core.errors import Unprocessable
from orderly.schemas.text import has_control_characters


class InvalidCursor(Unprocessable):
    code = "invalid-cursor"


def encode(kind: str, value: Any, row_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps({"k": kind, "v": value, "id": str(row_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(
    cursor: str, kind: str, expect: type | tuple[type, ...] = (str, int)
) -> tuple[Any, uuid.UUID]:
    """The (value, id) a cursor carries; 422 naming ``cursor`` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if data["k"] != kind:
            raise ValueError("cursor of another listing")
        value = data["v"]
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        if not isinstance(value, expect):
            raise ValueError("bad value")
        if isinstance(value, str) and has_control_characters(value):
            raise ValueError("a forged value the database would refuse")
        return value, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidCursor("The cursor is not valid for this listing", field="cursor") from exc


def next_link(url: URL, cursor: str) -> str:
    """The same request with ``cursor`` replaced: path and query only (relative URL)."""
    following = url.include_query_params(cursor=cursor)
    return f"{following.path}?{following.query}"
