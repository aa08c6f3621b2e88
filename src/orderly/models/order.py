"""An order and its lines: totals computed here, and the one state machine it may move through.

pending_payment -> paid -> fulfilled
pending_payment -> payment_failed | cancelled | expired
paid -> cancelled (the payment is refunded)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orderly.core.errors import Conflict, Unprocessable
from orderly.models.base import Base, Timestamped, str_enum, utcnow
from orderly.models.item import Item


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OrderAction(StrEnum):
    MARK_PAID = "mark_paid"
    MARK_PAYMENT_FAILED = "mark_payment_failed"
    CANCEL = "cancel"
    EXPIRE = "expire"
    FULFIL = "fulfil"


TRANSITIONS: dict[tuple[OrderStatus, OrderAction], OrderStatus] = {
    (OrderStatus.PENDING_PAYMENT, OrderAction.MARK_PAID): OrderStatus.PAID,
    (OrderStatus.PENDING_PAYMENT, OrderAction.MARK_PAYMENT_FAILED): OrderStatus.PAYMENT_FAILED,
    (OrderStatus.PENDING_PAYMENT, OrderAction.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.PENDING_PAYMENT, OrderAction.EXPIRE): OrderStatus.EXPIRED,
    (OrderStatus.PAID, OrderAction.FULFIL): OrderStatus.FULFILLED,
    (OrderStatus.PAID, OrderAction.CANCEL): OrderStatus.CANCELLED,
}

# States in which the order still holds reserved stock.
HOLDS_STOCK = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.FULFILLED})


class IllegalTransition(Conflict):
    code = "illegal-order-transition"


class MixedCurrencies(Unprocessable):
    code = "mixed-currencies"


@dataclass(frozen=True, slots=True)
class LineRequest:
    item: Item
    quantity: int


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_idempotency_key"),
        CheckConstraint("total_minor >= 0", name="total_non_negative"),
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus, "order_status", 20),
        default=OrderStatus.PENDING_PAYMENT,
        index=True,
    )
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="OrderLine.position",
    )

    @classmethod
    def place(
        cls,
        *,
        user_id: uuid.UUID,
        lines: Sequence[LineRequest],
        payment_method: str | None = None,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Order:
        """A new order at today's prices; the total is computed here, never taken from a client."""
        currencies = {line.item.currency for line in lines}
        if len(currencies) > 1:
            raise MixedCurrencies(
                "All items of one order must share a currency; found "
                + ", ".join(sorted(currencies)),
                field="lines",
            )
        order_id, now = uuid.uuid4(), utcnow()
        order = cls(
            id=order_id,
            created_at=now,
            updated_at=now,
            user_id=user_id,
            status=OrderStatus.PENDING_PAYMENT,
            currency=currencies.pop(),
            payment_method=payment_method,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            lines=[
                OrderLine(
                    id=uuid.uuid4(),
                    order_id=order_id,
                    position=position,
                    item_id=line.item.id,
                    quantity=line.quantity,
                    unit_price_minor=line.item.price_minor,
                )
                for position, line in enumerate(lines)
            ],
        )
        order.total_minor = sum(line.quantity * line.unit_price_minor for line in order.lines)
        return order

    def _apply(self, action: OrderAction) -> OrderStatus:
        target = TRANSITIONS.get((self.status, action))
        if target is None:
            raise IllegalTransition(
                f"An order that is {self.status.value} cannot {action.value.replace('_', ' ')}"
            )
        previous, self.status = self.status, target
        return previous

    def mark_paid(self) -> None:
        self._apply(OrderAction.MARK_PAID)

    def mark_payment_failed(self) -> None:
        self._apply(OrderAction.MARK_PAYMENT_FAILED)

    def cancel(self) -> OrderStatus:
        """Returns the status it had, so the caller knows whether a refund is due."""
        return self._apply(OrderAction.CANCEL)

    def expire(self) -> None:
        self._apply(OrderAction.EXPIRE)

    def fulfil(self) -> None:
        self._apply(OrderAction.FULFIL)

    @property
    def holds_stock(self) -> bool:
        return self.status in HOLDS_STOCK


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_non_negative"),
        UniqueConstraint("order_id", "item_id", name="uq_order_lines_order_item"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id", ondelete="RESTRICT"))
    quantity: Mapped[int]
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="lines", lazy="raise")
