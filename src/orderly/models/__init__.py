"""ORM tables. Importing this package registers every table on ``Base.metadata``."""

from orderly.models.account import AccountToken, AuthSession, RecoveryCode, TokenPurpose
from orderly.models.audit import AdminAudit
from orderly.models.base import Base
from orderly.models.item import Availability, Item, ItemFilter, ItemSort, ItemView
from orderly.models.order import LineRequest, Order, OrderLine, OrderStatus
from orderly.models.order_view import LineView, OrderView, order_views
from orderly.models.outbox import OutboxMessage, OutboxState, ProcessedEvent
from orderly.models.payment import Payment, PaymentStatus
from orderly.models.report import ReportStatus, SalesReport
from orderly.models.timeline import TimelineEntry
from orderly.models.user import Role, User
from orderly.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AccountToken",
    "AdminAudit",
    "AuthSession",
    "Availability",
    "Base",
    "Item",
    "ItemFilter",
    "ItemSort",
    "ItemView",
    "LineRequest",
    "LineView",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OrderView",
    "OutboxMessage",
    "OutboxState",
    "Payment",
    "PaymentStatus",
    "ProcessedEvent",
    "RecoveryCode",
    "ReportStatus",
    "Role",
    "SalesReport",
    "TimelineEntry",
    "TokenPurpose",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "order_views",
]
