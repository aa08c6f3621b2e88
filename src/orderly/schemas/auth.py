from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, EmailStr, Field

from orderly.schemas.common import RequestModel
from orderly.schemas.text import SingleLine
from orderly.services.users import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

Password = Annotated[
    str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH), SingleLine
]
FullName = Annotated[str, Field(min_length=1, max_length=200), SingleLine]


class RegisterRequest(RequestModel):
    email: Annotated[EmailStr, Field(max_length=320)]
    password: Password
    full_name: FullName


class TokenForm(BaseModel):
    """The OAuth2 password grant's form (RFC 6749, 4.3.2); ``username`` is the e-mail."""

    grant_type: Annotated[str, Field(pattern="^password$")] | None = None
    username: Annotated[str, Field(min_length=1, max_length=320), SingleLine]
    password: Annotated[
        str,
        Field(min_length=1, max_length=1024, json_schema_extra={"format": "password"}),
        SingleLine,
    ]
    scope: str = ""


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
