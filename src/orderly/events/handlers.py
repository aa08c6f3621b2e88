"""What happens after an event: one explicit registry from event type to handlers.

Every handler is idempotent. A handler whose effect leaves no state to check (a mail, a
report run) is recorded per event id when it finishes (processed_events), and the dispatcher
skips it for that event afterwards; a mail also carries the event's Message-ID. A handler
that changes state checks that state itself (paying a paid order does nothing), so it needs
no record: that saves the worker a read and a transaction per event.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NamedTuple

import structlog

from orderly.events.account_mails import AccountMails
from orderly.events.live import LiveChange
from orderly.events.mails import ORDER_MAILS, CustomerMails
from orderly.events.types import (
    EVENT_TYPES,
    Actor,
    EmailVerificationRequested,
    Event,
    OrderEvent,
    OrderPaid,
    OrderPlaced,
    OrderRefundRequested,
    PasswordResetRequested,
    SalesReportRequested,
    UserRegistered,
    WebhookEndpointDisabled,
)
from orderly.events.webhooks import WEBHOOK_EVENTS
from orderly.integrations.email import Mailer
from orderly.models.order import IllegalTransition
from orderly.services.account_tokens import AccountTokens
from orderly.services.payments import PaymentMethodMissing, PaymentService
from orderly.services.webhooks import WebhookService
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)
Handler = Callable[[Event], Awaitable[None]]


class Handling(NamedTuple):
    name: str
    handler: Handler
    # False for handlers idempotent by the state they change (see the module docstring).
    recorded: bool = True


StartReport = Callable[[uuid.UUID], Awaitable[None]]
PublishLive = Callable[[LiveChange], Awaitable[None]]


class EventDispatcher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        payments: PaymentService,
        mailer: Mailer,
        start_report: StartReport,
        webhooks: WebhookService,
        publish_live: PublishLive,
        account_tokens: AccountTokens,
    ) -> None:
        self._uow = uow
        self._publish_live = publish_live
        self._payments = payments
        self._start_report = start_report
        self._webhooks = webhooks
        mails = CustomerMails(uow, mailer=mailer)
        accounts = AccountMails(account_tokens, mailer=mailer)
        self.registry: dict[type[Event], list[Handling]] = {
            UserRegistered: [Handling("welcome_email", accounts.welcome)],
            PasswordResetRequested: [Handling("password_reset_email", accounts.password_reset)],
            EmailVerificationRequested: [Handling("verification_email", accounts.verification)],
            OrderPlaced: [Handling("pay_order", self.pay_order, recorded=False)],
            OrderRefundRequested: [Handling("refund_order", self.refund_order, recorded=False)],
            OrderPaid: [Handling("order_paid_email", mails.order_paid)],
            SalesReportRequested: [Handling("sales_report", self.sales_report)],
            WebhookEndpointDisabled: [Handling("webhook_disabled_email", self.webhook_disabled)],
        }
        # Webhook deliveries come first: idempotent by (event, endpoint), they are created
        # once however often a later handler of the same event is retried.
        for kind in WEBHOOK_EVENTS.values():
            self.registry.setdefault(kind, []).insert(
                0, Handling("webhook_deliveries", self.webhook_deliveries, recorded=False)
            )
        for kind, template in ORDER_MAILS.items():
            self.registry.setdefault(kind, []).append(
                Handling(f"{template}_email", mails.order_changed)
            )
        # Live status first: cheap, and a client waiting on the page should not wait for mails.
        for kind in EVENT_TYPES.values():
            if issubclass(kind, OrderEvent):
                self.registry.setdefault(kind, []).insert(
                    0, Handling("live_status", self.live_status, recorded=False)
                )

    def recorded_handlers(self, event_type: str) -> list[str]:
        """The handlers of an event type that record finishing an event (run once each)."""
        kind = EVENT_TYPES.get(event_type)
        return [h.name for h in self.registry.get(kind, []) if h.recorded] if kind else []

    async def dispatch(self, event: Event, *, acknowledge: bool = False) -> None:
        """Run every handler of the event that has not finished for it yet; then, with
        ``acknowledge`` (a worker handling an event from the broker), mark its outbox row
        handled, so the relay does not hand it over again."""
        for name, handler, recorded in self.registry.get(type(event), []):
            if recorded:
                async with self._uow(read_only=True) as uow:
                    if await uow.outbox.is_processed(event.event_id, name):
                        log.info(
                            "event_already_handled", event_id=str(event.event_id), handler=name
                        )
                        continue
            await handler(event)
            if recorded:
                async with self._uow() as uow:
                    await uow.outbox.mark_processed(event.event_id, name)
                    await uow.commit()
            log.info("event_handled", event_id=str(event.event_id), handler=name)
        if acknowledge:
            async with self._uow() as uow:
                await uow.outbox.mark_handled(event.event_id, at=datetime.now(UTC))
                await uow.commit()

    # -- handlers --------------------------------------------------------------------------

    async def pay_order(self, event: Event) -> None:
        assert isinstance(event, OrderPlaced)  # noqa: S101 - registered for OrderPlaced
        try:
            await self._payments.charge(order_id=event.order_id, actor=Actor.worker())
        except PaymentMethodMissing:
            log.info("order_awaits_payment_method", order_id=str(event.order_id))
        except IllegalTransition:
            log.info("order_no_longer_payable", order_id=str(event.order_id))
        # PaymentProviderDown propagates: the job is retried with backoff.

    async def refund_order(self, event: Event) -> None:
        assert isinstance(event, OrderRefundRequested)  # noqa: S101
        # Idempotent by the payment's state; PaymentProviderDown propagates (retried).
        await self._payments.refund(
            order_id=event.order_id, actor=Actor.worker(), reason=event.reason
        )

    async def sales_report(self, event: Event) -> None:
        assert isinstance(event, SalesReportRequested)  # noqa: S101
        await self._start_report(event.report_id)

    async def live_status(self, event: Event) -> None:
        """Tell the open streams. Never fails the event: pub/sub is lossy anyway (a client
        learns the state from its next snapshot), and the other handlers must still run."""
        assert isinstance(event, OrderEvent)  # noqa: S101 - registered for order events
        try:
            await self._publish_live(LiveChange.of(event))
        except Exception:
            log.warning("live_status_not_published", event_id=str(event.event_id), exc_info=True)

    async def webhook_deliveries(self, event: Event) -> None:
        await self._webhooks.fan_out(event)

    async def webhook_disabled(self, event: Event) -> None:
        assert isinstance(event, WebhookEndpointDisabled)  # noqa: S101
        await self._webhooks.notify_disabled(event)
