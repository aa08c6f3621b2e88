from __future__ import annotations

import uuid

from fastapi import APIRouter

from orderly.api.deps import Admin, AdminWriter, CurrentUser, Users, Writer
from orderly.api.openapi import problem_responses
from orderly.schemas.common import Page, PaginationQuery
from orderly.schemas.users import UserAccessUpdate, UserProfileUpdate, UserRead
from orderly.services.users import SelfLockout, UserNotFound, WeakPassword, WrongCurrentPassword

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me", responses=problem_responses(UserNotFound, WeakPassword, WrongCurrentPassword))
async def update_me(body: UserProfileUpdate, user: Writer, users: Users) -> UserRead:
    updated = await users.update_profile(
        user_id=user.id,
        full_name=body.full_name,
        password=body.password,
        current_password=body.current_password,
    )
    return UserRead.model_validate(updated)


@router.get("")
async def list_users(_: Admin, page: PaginationQuery, users: Users) -> Page[UserRead]:
    found, total = await users.list_users(limit=page.limit, offset=page.offset)
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{user_id}", responses=problem_responses(UserNotFound))
async def read_user(user_id: uuid.UUID, _: Admin, users: Users) -> UserRead:
    return UserRead.model_validate(await users.get_user(user_id=user_id))


@router.patch("/{user_id}", responses=problem_responses(UserNotFound, SelfLockout))
async def update_user(
    user_id: uuid.UUID, body: UserAccessUpdate, admin: AdminWriter, users: Users
) -> UserRead:
    updated = await users.change_access(
        actor=admin, user_id=user_id, role=body.role, is_active=body.is_active
    )
    return UserRead.model_validate(updated)
