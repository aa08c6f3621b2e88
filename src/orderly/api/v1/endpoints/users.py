from __future__ import annotations

import uuid

from fastapi import APIRouter

from orderly.api.deps import Admin, AdminWriter, CurrentUser, Users, Writer
from orderly.api.problems import problem_responses
from orderly.schemas.common import Page, PaginationQuery
from orderly.schemas.users import UserAccessUpdate, UserProfileUpdate, UserRead

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", responses=problem_responses(401))
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me", responses=problem_responses(401, 422))
async def update_me(body: UserProfileUpdate, user: Writer, users: Users) -> UserRead:
    updated = await users.update_profile(
        user_id=user.id,
        full_name=body.full_name,
        password=body.password,
        current_password=body.current_password,
    )
    return UserRead.model_validate(updated)


@router.get("", responses=problem_responses(401, 403, 422))
async def list_users(_: Admin, page: PaginationQuery, users: Users) -> Page[UserRead]:
    found, total = await users.list_users(limit=page.limit, offset=page.offset)
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{user_id}", responses=problem_responses(401, 403, 404, 422))
async def read_user(user_id: uuid.UUID, _: Admin, users: Users) -> UserRead:
    return UserRead.model_validate(await users.get_user(user_id=user_id))


@router.patch("/{user_id}", responses=problem_responses(401, 403, 404, 409, 422))
async def update_user(
    user_id: uuid.UUID, body: UserAccessUpdate, admin: AdminWriter, users: Users
) -> UserRead:
    updated = await users.change_access(
        actor=admin, user_id=user_id, role=body.role, is_active=body.is_active
    )
    return UserRead.model_validate(updated)
