from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from orderly.models import Role
from orderly.schemas.auth import FullName, Password
from orderly.schemas.common import RequestModel
from orderly.schemas.text import Omittable, SingleLine


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    email_verified: bool
    two_factor_enabled: bool
    created_at: datetime
    updated_at: datetime


class UserProfileUpdate(RequestModel):
    """What a user may change about themselves; never their role."""

    full_name: Omittable[FullName] = None
    password: Omittable[Password] = None
    current_password: Omittable[Annotated[str, Field(max_length=1024), SingleLine]] = None


class UserAccessUpdate(RequestModel):
    """What an administrator may change about an account."""

    role: Omittable[Role] = None
    is_active: Omittable[StrictBool] = None
