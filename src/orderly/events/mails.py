"""The mails customers get as their orders change (events/account_mails.py: about their
account): one per event, composed from
templates/email (text and HTML), with the event id as the Message-ID, so a mail client
shows a redelivered one once."""

from __future__ import annotations

import structlog

from orderly.core.money import to_major
from orderly.events.types import (
    Event,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFulfilled,
    OrderPaid,
    OrderPaymentFailed,
    OrderRefunded,
    OrderRefundFailed,
)
from orderly.integrations.email import Mailer
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)

# An order change -> the template telling its customer about it.
ORDER_MAILS: dict[type[OrderEvent], str] = {
    OrderPaymentFailed: "payment_failed",
    OrderCancelled: "order_cancelled",
    OrderRefunded: "order_refunded",
    OrderRefundFailed: "order_refund_failed",
    OrderFulfilled: "order_fulfilled",
    OrderExpired: "order_expired",
}


class CustomerMails:
    def __init__(self, uow: UnitOfWorkFactory, *, mailer: Mailer) -> None:
        self._uow = uow
        self._mailer = mailer

    async def order_paid(self, event: Event) -> None:
        """The receipt: every line with its name and price."""
        assert isinstance(event, OrderPaid)  # noqa: S101
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(event.order_id)
            user = await uow.users.get(event.user_id)
            wanted = [line.item_id for line in order.lines] if order else []
            items = {item.id: item for item in await uow.items.get_many(wanted)}
        if order is None or user is None:
            return
        await self._send(
            event,
            to=user.email,
            template="order_paid",
            full_name=user.full_name,
            order_id=str(order.id),
            total=str(to_major(order.total_minor, order.currency)),
            currency=order.currency,
            lines=[
                {
                    "quantity": line.quantity,
                    "name": items[line.item_id].name if line.item_id in items else "item",
                    "unit_price": str(to_major(line.unit_price_minor, order.currency)),
                }
                for line in order.lines
            ],
        )

    async def order_changed(self, event: Event) -> None:
        """Failed, cancelled, refunded, refund refused, shipped, expired: the template of
        ``ORDER_MAILS`` with the order's total and the change's reason and details."""
        assert isinstance(event, OrderEvent)  # noqa: S101
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(event.order_id)
            user = await uow.users.get(event.user_id)
        if order is None or user is None:
            log.info("order_mail_skipped", order_id=str(event.order_id), event=event.name)
            return
        await self._send(
            event,
            to=user.email,
            template=ORDER_MAILS[type(event)],
            full_name=user.full_name,
            order_id=str(order.id),
            total=str(to_major(order.total_minor, order.currency)),
            currency=order.currency,
            reason=event.reason,
            refunded=getattr(event, "refunded", False),
        )

    async def _send(self, event: Event, *, to: str, template: str, **context: object) -> None:
        message = self._mailer.compose(
            to=to, template=template, message_id=event.event_id, **context
        )
        await self._mailer.send(message)
