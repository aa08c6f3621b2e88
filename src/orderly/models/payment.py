"""The payment of an order at the external provider: one row per order, every attempt counted."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.models.base import Base, Timestamped, str_enum

if TYPE_CHECKING:
    from orderly.models.order import Order


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class Payment(Timestamped, Base):
    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        str_enum(PaymentStatus, "payment_status", 16),
        default=PaymentStatus.PENDING,
    )
    provider_reference: Mapped[str | None] = mapped_column(String(100))
    refund_reference: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    @classmethod
    def for_order(cls, order: Order) -> Payment:
        """The order's payment before its first attempt: the order's total, not yet charged."""
        return cls(
            id=uuid.uuid4(),
            order_id=order.id,
            amount_minor=order.total_minor,
            currency=order.currency,
            status=PaymentStatus.PENDING,
            attempts=0,
        )

    @property
    def charge_key(self) -> str:
        """The provider idempotency key: one per order, so any retry charges at most once."""
        return f"order-{self.order_id}-charge"

    @property
    def refund_key(self) -> str:
        return f"order-{self.order_id}-refund"

    def record_attempt(self, error: str | None = None) -> None:
        self.attempts += 1
        self.last_error = error

    def succeed(self, reference: str) -> None:
        self.status = PaymentStatus.SUCCEEDED
        self.provider_reference = reference
        self.last_error = None

    def fail(self, reason: str) -> None:
        self.status = PaymentStatus.FAILED
        self.last_error = reason

    def refund(self, reference: str) -> None:
        self.status = PaymentStatus.REFUNDED
        self.refund_reference = reference
