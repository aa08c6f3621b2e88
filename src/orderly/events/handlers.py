"""What happens after an event: one explicit registry from event type to handlers.

Every handler is idempotent by event id: the dispatcher skips a handler that already
finished for an event (the processed_events record), and the handlers themselves are safe
to run twice (paying a paid order does nothing; a mail carries the event's Message-ID).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog

from orderly.core.money import to_major
from orderly.events.types import (
    Event,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    SalesReportRequested,
    UserRegistered,
)
from orderly.integrations.email import Mailer
from orderly.models.order import IllegalTransition
from orderly.services.orders import OrderService, PaymentMethodMissing
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)
Handler = Callable[[Event], Awaitable[None]]
StartReport = Callable[[uuid.UUID], Awaitable[None]]


class EventDispatcher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        orders: OrderService,
        mailer: Mailer,
        start_report: StartReport,
    ) -> None:
        self._uow = uow
        self._orders = orders
        self._mailer = mailer
        self._start_report = start_report
        self.registry: dict[type[Event], list[tuple[str, Handler]]] = {
            UserRegistered: [("welcome_email", self.welcome_email)],
            OrderPlaced: [("pay_order", self.pay_order)],
            OrderPaid: [("order_paid_email", self.order_paid_email)],
            OrderPaymentFailed: [("payment_failed_email", self.payment_failed_email)],
            SalesReportRequested: [("sales_report", self.sales_report)],
        }

    async def dispatch(self, event: Event) -> None:
        """Run every handler of the event that has not finished for it yet."""
        for name, handler in self.registry.get(type(event), []):
            async with self._uow(read_only=True) as uow:
                if await uow.outbox.is_processed(event.event_id, name):
                    log.info("event_already_handled", event_id=str(event.event_id), handler=name)
                    continue
            await handler(event)
            async with self._uow() as uow:
                uow.outbox.mark_processed(event.event_id, name)
                await uow.commit()
            log.info("event_handled", event_id=str(event.event_id), handler=name)

    # -- handlers --------------------------------------------------------------------------

    async def pay_order(self, event: Event) -> None:
        assert isinstance(event, OrderPlaced)  # noqa: S101 - registered for OrderPlaced
        try:
            await self._orders.pay(order_id=event.order_id)
        except PaymentMethodMissing:
            log.info("order_awaits_payment_method", order_id=str(event.order_id))
        except IllegalTransition:
            log.info("order_no_longer_payable", order_id=str(event.order_id))
        # PaymentProviderDown propagates: the job is retried with backoff.

    async def welcome_email(self, event: Event) -> None:
        assert isinstance(event, UserRegistered)  # noqa: S101
        await self._mail(
            event,
            to=event.email,
            template="welcome",
            full_name=event.full_name,
            email=event.email,
        )

    async def order_paid_email(self, event: Event) -> None:
        assert isinstance(event, OrderPaid)  # noqa: S101
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(event.order_id)
            user = await uow.users.get(event.user_id)
            wanted = [line.item_id for line in order.lines] if order else []
            items = {item.id: item for item in await uow.items.get_many(wanted)}
        if order is None or user is None:
            return
        await self._mail(
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

    async def payment_failed_email(self, event: Event) -> None:
        assert isinstance(event, OrderPaymentFailed)  # noqa: S101
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(event.user_id)
        if user is None:
            return
        await self._mail(
            event,
            to=user.email,
            template="payment_failed",
            full_name=user.full_name,
            order_id=str(event.order_id),
            reason=event.reason,
        )

    async def sales_report(self, event: Event) -> None:
        assert isinstance(event, SalesReportRequested)  # noqa: S101
        await self._start_report(event.report_id)

    async def _mail(self, event: Event, *, to: str, template: str, **context: object) -> None:
        message = self._mailer.compose(
            to=to, template=template, message_id=event.event_id, **context
        )
        await self._mailer.send(message)
