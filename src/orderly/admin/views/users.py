"""Accounts: list and search; role and active changes go through UserService.change_access,
so a deactivated account's tokens are revoked and no admin can lock themselves out."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin.filters import StaticValuesFilter
from starlette.requests import Request

from orderly.admin.base import PanelView, current_admin, parse_id
from orderly.core.errors import Unprocessable
from orderly.models import Role, User


class InvalidRole(Unprocessable):
    code = "invalid-role"


class UserAdmin(PanelView, model=User):
    name = "User"
    name_plural = "Users"
    icon = "fa-solid fa-users"
    can_create = False
    can_delete = False
    column_list: ClassVar[Any] = [
        User.email,
        User.full_name,
        User.role,
        User.is_active,
        User.created_at,
    ]
    column_details_list: ClassVar[Any] = [
        User.id,
        User.email,
        User.full_name,
        User.role,
        User.is_active,
        User.created_at,
        User.updated_at,
    ]
    column_searchable_list: ClassVar[Any] = [User.email, User.full_name]
    column_sortable_list: ClassVar[Any] = [User.email, User.full_name, User.created_at]
    column_default_sort: ClassVar[Any] = [(User.created_at, True)]
    column_filters: ClassVar[Any] = [
        StaticValuesFilter(User.role, values=[(r.value, r.value) for r in Role], title="Role"),
    ]
    form_columns: ClassVar[Any] = [User.role, User.is_active]
    form_args: ClassVar[Any] = {
        "is_active": {"label": "Active (unticked: signed out everywhere)"},
    }

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {"role": obj.role.value, "is_active": obj.is_active}

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        try:
            role = Role(str(data.get("role")))
        except ValueError:
            raise InvalidRole(f"role must be one of {', '.join(Role)}", field="role") from None
        is_active = bool(data.get("is_active"))
        admin = current_admin(request)
        user = await self.services().users.change_access(
            actor=admin, user_id=parse_id(pk), role=role, is_active=is_active
        )
        await self.services().audit.record(
            admin=admin,
            action="user.change_access",
            target_type="user",
            target_id=user.id,
            details={"role": role.value, "is_active": is_active},
        )
        return user
