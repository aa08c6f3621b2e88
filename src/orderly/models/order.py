"""An order and its lines: totals computed here, and the one state machine it may move through.

pending_payment -> paid -> fulfilled
pending_payment -> payment_failed | cancelled | expired
paid -> cancelling -> cancelled   (the refund is made by a worker, outside any transaction)
           cancelling -> paid     (the provider refused the refund)

Every change records its event (who, why, from which status to which); the unit of work
writes the recorded events to the outbox in the same commit as the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

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
from orderly.events.types import (
    Actor,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFulfilled,
    OrderNoteAdded,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderRefunded,
    OrderRefundFailed,
    OrderRefundRequested,
)
from orderly.models.base import Base, RecordsEvents, Timestamped, str_enum, utcnow
from orderly.models.item import Item
from orderly.models.timeline import TimelineEntry

E = TypeVar("E", bound=OrderEvent)


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    PAYMENT_FAILED = "payment_failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OrderAction(StrEnum):
    MARK_PAID = "mark_paid"
    MARK_PAYMENT_FAILED = "mark_payment_failed"
    CANCEL = "cancel"
    FINISH_CANCELLING = "finish_cancelling"
    KEEP_AFTER_REFUND_FAILED = "keep_after_refund_failed"
    EXPIRE = "expire"
    FULFIL = "fulfil"


TRANSITIONS: dict[tuple[OrderStatus, OrderAction], OrderStatus] = {
    (OrderStatus.PENDING_PAYMENT, OrderAction.MARK_PAID): OrderStatus.PAID,
    (OrderStatus.PENDING_PAYMENT, OrderAction.MARK_PAYMENT_FAILED): OrderStatus.PAYMENT_FAILED,
    (OrderStatus.PENDING_PAYMENT, OrderAction.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.PENDING_PAYMENT, OrderAction.EXPIRE): OrderStatus.EXPIRED,
    (OrderStatus.PAID, OrderAction.FULFIL): OrderStatus.FULFILLED,
    (OrderStatus.PAID, OrderAction.CANCEL): OrderStatus.CANCELLING,
    (OrderStatus.CANCELLING, OrderAction.FINISH_CANCELLING): OrderStatus.CANCELLED,
    (OrderStatus.CANCELLING, OrderAction.KEEP_AFTER_REFUND_FAILED): OrderStatus.PAID,
}

# States in which the order still holds reserved stock.
HOLDS_STOCK = frozenset(
    {
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.PAID,
        OrderStatus.CANCELLING,
        OrderStatus.FULFILLED,
    }
)
# States in which the order has been charged and keeps the money.
CHARGED = frozenset({OrderStatus.PAID, OrderStatus.CANCELLING, OrderStatus.FULFILLED})


class IllegalTransition(Conflict):
    code = "illegal-order-transition"


class MixedCurrencies(Unprocessable):
    code = "mixed-currencies"


@dataclass(frozen=True, slots=True)
class LineRequest:
    item: Item
    quantity: int


class Order(RecordsEvents, Timestamped, Base):
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

    # Position of the last recorded event on the order's timeline (1 = placed).
    timeline_position: Mapped[int] = mapped_column(default=0)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="OrderLine.position",
    )
    # Read only: entries are written by the unit of work from the events the order records.
    timeline: Mapped[list[TimelineEntry]] = relationship(
        viewonly=True, lazy="raise", order_by=TimelineEntry.sequence
    )

    @classmethod
    def place(
        cls,
        *,
        actor: Actor,
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
            timeline_position=0,
            lines=[
                OrderLine(
                    id=uuid.uuid4(),
                    order_id=order_id,
                    position=position,
                    item_id=line.item.id,
                    item=line.item,
                    quantity=line.quantity,
                    unit_price_minor=line.item.price_minor,
                )
                for position, line in enumerate(lines)
            ],
        )
        order.total_minor = sum(line.quantity * line.unit_price_minor for line in order.lines)
        order.record(order._event(OrderPlaced, actor=actor, from_status=None))
        return order

    # -- transitions: each checks the state machine and records its event -----------------

    def ensure_payable(self) -> None:
        """Raises ``IllegalTransition`` unless the order waits for its payment."""
        if self.status is not OrderStatus.PENDING_PAYMENT:
            raise IllegalTransition(f"An order that is {self.status.value} cannot be paid")

    def mark_paid(self, *, actor: Actor, payment_reference: str) -> None:
        previous = self._apply(OrderAction.MARK_PAID)
        self.record(
            self._event(
                OrderPaid, actor=actor, from_status=previous, payment_reference=payment_reference
            )
        )

    def mark_payment_failed(self, *, actor: Actor, reason: str) -> None:
        previous = self._apply(OrderAction.MARK_PAYMENT_FAILED)
        self.record(
            self._event(OrderPaymentFailed, actor=actor, from_status=previous, reason=reason)
        )

    def cancel(self, *, actor: Actor, reason: str | None = None) -> None:
        """An unpaid order is cancelled at once; a paid one becomes ``cancelling`` until its
        refund is made (``finish_cancelling``) or refused (``refund_failed``)."""
        previous = self._apply(OrderAction.CANCEL)
        if self.status is OrderStatus.CANCELLING:
            self.record(self._refund_requested(actor=actor, from_status=previous, reason=reason))
        else:
            self.record(
                self._event(
                    OrderCancelled, actor=actor, from_status=previous, reason=reason, refunded=False
                )
            )

    def expire(self, *, actor: Actor, reason: str) -> None:
        previous = self._apply(OrderAction.EXPIRE)
        self.record(self._event(OrderExpired, actor=actor, from_status=previous, reason=reason))

    def fulfil(self, *, actor: Actor, reason: str | None = None) -> None:
        previous = self._apply(OrderAction.FULFIL)
        self.record(self._event(OrderFulfilled, actor=actor, from_status=previous, reason=reason))

    def request_refund(self, *, actor: Actor, reason: str) -> None:
        """A charge that arrived after the order ended (expired, cancelled, failed) must be
        given back; the order's status does not change."""
        if self.status in CHARGED or self.status is OrderStatus.PENDING_PAYMENT:
            raise IllegalTransition(
                f"An order that is {self.status.value} keeps its charge; cancel it instead"
            )
        self.record(self._refund_requested(actor=actor, from_status=self.status, reason=reason))

    def refunded(self, *, actor: Actor, refund_reference: str, reason: str | None = None) -> None:
        """The provider gave the money back: a cancelling order is now cancelled (``reason``:
        why the refund was asked for)."""
        if self.status is OrderStatus.CANCELLING:
            previous = self._apply(OrderAction.FINISH_CANCELLING)
            event: OrderEvent = self._event(
                OrderCancelled,
                actor=actor,
                from_status=previous,
                reason=reason,
                refunded=True,
                refund_reference=refund_reference,
            )
        else:
            event = self._event(
                OrderRefunded,
                actor=actor,
                from_status=self.status,
                reason=reason,
                amount_minor=self.total_minor,
                currency=self.currency,
                refund_reference=refund_reference,
            )
        self.record(event)

    def refund_failed(self, *, actor: Actor, reason: str) -> None:
        """The provider refused the refund: a cancelling order stays paid, with the reason."""
        previous = self.status
        if self.status is OrderStatus.CANCELLING:
            self._apply(OrderAction.KEEP_AFTER_REFUND_FAILED)
        self.record(
            self._event(OrderRefundFailed, actor=actor, from_status=previous, reason=reason)
        )

    def add_note(self, *, actor: Actor, note: str) -> None:
        """A note on the timeline (support staff: "customer called about the delivery")."""
        self.record(self._event(OrderNoteAdded, actor=actor, from_status=self.status, note=note))

    @property
    def holds_stock(self) -> bool:
        return self.status in HOLDS_STOCK

    @property
    def is_charged(self) -> bool:
        """Paid (and not refunded): paying again must change nothing."""
        return self.status in CHARGED

    def _apply(self, action: OrderAction) -> OrderStatus:
        target = TRANSITIONS.get((self.status, action))
        if target is None:
            raise IllegalTransition(
                f"An order that is {self.status.value} cannot {action.value.replace('_', ' ')}"
            )
        previous, self.status = self.status, target
        return previous

    def _refund_requested(
        self, *, actor: Actor, from_status: OrderStatus, reason: str | None
    ) -> OrderRefundRequested:
        return self._event(
            OrderRefundRequested,
            actor=actor,
            from_status=from_status,
            reason=reason,
            amount_minor=self.total_minor,
            currency=self.currency,
        )

    def _event(
        self, kind: type[E], *, actor: Actor, from_status: OrderStatus | None, **details: Any
    ) -> E:
        self.timeline_position += 1
        return kind(
            order_id=self.id,
            user_id=self.user_id,
            sequence=self.timeline_position,
            actor=actor,
            from_status=from_status.value if from_status else None,
            to_status=self.status.value,
            **details,
        )


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
    # Set when the order is placed (the read model keeps the item's name); never loaded.
    item: Mapped[Item | None] = relationship(lazy="raise", viewonly=True)
