"""What every panel view shares: the container (bound when the app starts), the signed-in
administrator, and how a refused change is shown on the page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqladmin import Admin, ModelView, expose
from sqladmin.flash import Flash
from sqlalchemy import Select
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from orderly.container import Container
from orderly.core.errors import DomainError
from orderly.models import User


class OrderlyAdmin(Admin):
    """SQLAdmin's ``Admin`` holding the container the lifespan builds (``bind``)."""

    container: Container | None = None

    def services(self) -> Container:
        if self.container is None:
            raise RuntimeError("the admin panel is used before the application started")
        return self.container


def current_admin(request: Request) -> User:
    """The administrator ``AdminAuth.authenticate`` found for this request."""
    user = getattr(request.state, "admin_user", None)
    if not isinstance(user, User):
        raise HTTPException(status_code=401, detail="Sign in first")
    return user


def parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise HTTPException(status_code=404, detail=f"No record with id {value!r}") from None


def describe(error: Exception) -> str:
    """A refused change in words for the page: the field and what is wrong with it."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'value'}: {problem['msg']}"
            for problem in error.errors()
        )
    if isinstance(error, DomainError):
        return f"{error.field}: {error.detail}" if error.field else error.detail
    return str(error)


@dataclass(frozen=True, slots=True)
class PanelAction:
    """A button on a record's page that POSTs to the view's ``act`` route."""

    name: str
    label: str
    style: str = "primary"
    reason: bool = False  # shows a reason field


@dataclass(frozen=True, slots=True)
class PanelLink:
    label: str
    url: str


class PanelView(ModelView):
    """Read through SQLAdmin's own queries; no view writes through them."""

    can_export = False
    page_size = 25
    details_template = "orderly/details.html"

    def services(self) -> Container:
        return cast(OrderlyAdmin, self._admin_ref).services()

    def _stmt_by_identifier(self, identifier: str) -> Select[Any]:
        try:
            return super()._stmt_by_identifier(identifier)
        except (ValueError, TypeError):  # not an id of this table: as unknown as any other
            raise HTTPException(
                status_code=404, detail=f"No record with id {identifier!r}"
            ) from None

    def back_to_details(self, request: Request, pk: str) -> RedirectResponse:
        url = request.url_for("admin:details", identity=self.identity, pk=pk)
        return RedirectResponse(url, status_code=303)

    def refused(self, request: Request, pk: str, error: Exception) -> RedirectResponse:
        """Back to the record with the reason shown above it; nothing was written."""
        Flash.error(request, describe(error), title="Refused")
        return self.back_to_details(request, pk)

    # -- actions: POST only (SQLAdmin's own @action routes are GETs) ----------------------

    def panel_actions(self, request: Request, obj: Any) -> list[PanelAction]:
        """The actions this record's page offers now (its state allowing)."""
        return []

    def panel_links(self, request: Request, obj: Any) -> list[PanelLink]:
        return []

    def action_url(self, request: Request, obj: Any, action: str) -> str:
        pk = str(getattr(obj, "id", obj))
        return str(request.url_for(f"admin:view-{self.identity}-act", pk=pk, action=action))

    async def run_action(self, request: Request, pk: str, action: str, form: FormData) -> str:
        """Do ``action`` through a service; return what to tell the admin."""
        raise HTTPException(status_code=404, detail=f"No action {action!r} here")

    @expose("/act/{pk}/{action}", methods=["POST"])
    async def act(self, request: Request) -> Response:
        pk, action = request.path_params["pk"], request.path_params["action"]
        form = await request.form()
        try:
            message = await self.run_action(request, pk, action, form)
        except (DomainError, ValidationError) as exc:
            return self.refused(request, pk, exc)
        Flash.success(request, message, title="Done")
        return self.back_to_details(request, pk)
