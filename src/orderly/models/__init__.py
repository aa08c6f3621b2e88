"""ORM tables. Importing this package registers every table on ``Base.metadata``."""

from orderly.models.base import Base
from orderly.models.item import Item, ItemSort
from orderly.models.order import LineRequest, Order, OrderLine, OrderStatus
from orderly.models.payment import Payment, PaymentStatus
from orderly.models.user import Role, User

__all__ = [
    "Base",
    "Item",
    "ItemSort",
    "LineRequest",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "Role",
    "User",
]
