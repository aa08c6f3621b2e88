"""Builds the panel on the app at ``/admin``; the lifespan binds the container to it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware

from orderly.admin.auth import AdminAuth
from orderly.admin.base import OrderlyAdmin
from orderly.admin.guard import SameOriginMiddleware, origin_of
from orderly.admin.views.catalog import ItemAdmin
from orderly.admin.views.operations import AuditAdmin, OutboxAdmin, ReportAdmin
from orderly.admin.views.orders import OrderAdmin, PaymentAdmin
from orderly.admin.views.users import UserAdmin
from orderly.admin.views.webhooks import WebhookDeliveryAdmin, WebhookEndpointAdmin
from orderly.container import Container
from orderly.core.config import Settings

TEMPLATES = Path(__file__).parent / "templates"
VIEWS = (
    OrderAdmin, PaymentAdmin, ItemAdmin, UserAdmin, OutboxAdmin, ReportAdmin,
    WebhookEndpointAdmin, WebhookDeliveryAdmin, AuditAdmin,
)  # fmt: skip


def install_admin(app: Starlette, settings: Settings) -> OrderlyAdmin:
    # SQLAdmin's own reads (lists, details) get a session factory now and its engine when
    # the container exists (``bind_admin``); every change goes through the services.
    reads = async_sessionmaker(class_=AsyncSession, expire_on_commit=False)
    public = origin_of(settings.public_url)
    auth = AdminAuth(settings)
    admin = OrderlyAdmin(
        app,
        session_maker=reads,
        base_url="/admin",
        title="orderly admin",
        favicon_url="data:,",  # no favicon request (it would 404)
        templates_dir=str(TEMPLATES),
        middlewares=[
            Middleware(SameOriginMiddleware, trusted=frozenset({public} if public else ()))
        ],
        authentication_backend=auth,
    )
    auth.admin = admin
    for view in VIEWS:
        admin.add_view(view)
    return admin


def bind_admin(admin: OrderlyAdmin, container: Container) -> None:
    """Reads run in AUTOCOMMIT on the app's engine, like the services' read-only units."""
    engine = container.engine.execution_options(isolation_level="AUTOCOMMIT")
    admin.session_maker.configure(bind=engine)
    admin.container = container
