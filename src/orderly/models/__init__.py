"""ORM tables. Importing this package registers every table on ``Base.metadata``."""

from orderly.models.base import Base
from orderly.models.item import Item, ItemSort
from orderly.models.user import Role, User

__all__ = ["Base", "Item", "ItemSort", "Role", "User"]
