"""Bodies of the account endpoints: the two-factor login step, password reset, e-mail
verification and two-factor enrolment."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, EmailStr, Field

from orderly.schemas.auth import Password
from orderly.schemas.common import RequestModel
from orderly.schemas.text import SingleLine

# A TOTP code (6 digits) or a recovery code (xxxxx-xxxxx).
MfaCode = Annotated[
    str,
    Field(min_length=6, max_length=16, description="6-digit code, or a recovery code"),
    SingleLine,
]
MailedToken = Annotated[str, Field(min_length=16, max_length=128), SingleLine]


class MfaLoginRequest(RequestModel):
    mfa_token: Annotated[str, Field(min_length=1, max_length=4096), SingleLine]
    code: MfaCode


class PasswordResetRequest(RequestModel):
    email: Annotated[EmailStr, Field(max_length=320)]


class PasswordResetConfirm(RequestModel):
    token: MailedToken
    password: Password


class EmailVerification(RequestModel):
    token: MailedToken


class Accepted(BaseModel):
    """The request was taken; what follows happens by mail."""

    detail: str


class TwoFactorCode(RequestModel):
    code: MfaCode


class TwoFactorEnrollment(BaseModel):
    """The secret for the authenticator app (or its otpauth:// URI, as a QR code)."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(BaseModel):
    """Shown this once: each code replaces the app's code for one sign-in."""

    recovery_codes: list[str]


class TwoFactorStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int
