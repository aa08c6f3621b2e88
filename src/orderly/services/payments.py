"""Paying and refunding orders at the external payment provider.

No call to the provider is made while a transaction or a row lock is open: a slow provider
(retries x timeout) must never hold a pooled connection. Each use case is: a short
transaction that decides and records the attempt, the provider call, then a short
transaction that settles what the provider answered. The provider's idempotency keys
(``order-<id>-charge``, ``order-<id>-refund``) make a repeated call charge or refund once.
"""

from __future__ import annotations

import uuid

import structlog

from orderly.core import metrics
from orderly.core.errors import Unavailable, Unprocessable
from orderly.events.types import Actor
from orderly.integrations.payments import (
    PaymentDeclined,
    PaymentProvider,
    PaymentRejected,
    PaymentUnavailable,
)
from orderly.models import Order, OrderStatus, Payment, PaymentStatus, User
from orderly.services.orders import OrderNotFound, release_stock, visible_to
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)


class PaymentMethodMissing(Unprocessable):
    code = "payment-method-missing"


class PaymentProviderDown(Unavailable):
    code = "payment-provider-unavailable"


class PaymentService:
    def __init__(self, uow: UnitOfWorkFactory, *, provider: PaymentProvider) -> None:
        self._uow = uow
        self._provider = provider

    async def pay(
        self, *, actor: User, order_id: uuid.UUID, payment_method: str | None = None
    ) -> Order:
        """A customer (or an admin) pays an order now, from the API; someone else's order is
        answered as missing. Returns the order as it is afterwards, with its lines."""
        async with self._uow(read_only=True) as uow:
            visible_to(actor, await uow.orders.get(order_id), order_id)
        await self.charge(order_id=order_id, actor=actor.as_actor(), payment_method=payment_method)
        async with self._uow(read_only=True) as uow:
            return visible_to(actor, await uow.orders.get(order_id), order_id)

    async def charge(
        self, *, order_id: uuid.UUID, actor: Actor, payment_method: str | None = None
    ) -> OrderStatus:
        """Charge the order once; returns its status after. Idempotent: charging an order
        that is already charged changes nothing.

        A decline fails the order and releases its stock; a provider that stays unreachable
        through the retries leaves the order ``pending_payment`` for a later attempt.
        """
        async with self._uow() as uow:
            order = await uow.orders.get_for_update(order_id, with_lines=False)
            if order is None:
                raise OrderNotFound(f"No order with id {order_id}")
            if order.is_charged:
                return order.status
            order.ensure_payable()
            method = payment_method or order.payment_method
            if not method:
                raise PaymentMethodMissing(
                    "No payment method: send one with the payment", field="payment_method"
                )
            order.payment_method = method
            payment = await uow.payments.for_order(order.id)
            if payment is None:
                payment = Payment.for_order(order)
                uow.payments.add(payment)
            payment.record_attempt()
            await uow.commit()
        charge_key, amount, currency = payment.charge_key, order.total_minor, order.currency

        try:
            reference = await self._provider.charge(
                idempotency_key=charge_key,
                amount_minor=amount,
                currency=currency,
                payment_method=method,
            )
        except PaymentDeclined as exc:
            return await self._settle(order_id, actor=actor, declined=str(exc))
        except PaymentUnavailable as exc:
            await self._note_error(order_id, str(exc))
            raise PaymentProviderDown(
                "The payment provider is unavailable; the order is still pending, try later",
                retry_after=exc.retry_after,
            ) from exc
        return await self._settle(order_id, actor=actor, reference=reference)

    async def _settle(
        self,
        order_id: uuid.UUID,
        *,
        actor: Actor,
        reference: str | None = None,
        declined: str | None = None,
    ) -> OrderStatus:
        async with self._uow() as uow:
            # Only a decline reads the lines (to release their stock).
            order = await uow.orders.get_for_update(order_id, with_lines=reference is None)
            payment = await uow.payments.for_order(order_id)
            assert order is not None  # noqa: S101 - both were written by charge()
            assert payment is not None  # noqa: S101
            if reference is not None:
                payment.succeed(reference)
                if order.status is OrderStatus.PENDING_PAYMENT:
                    order.mark_paid(actor=actor, payment_reference=reference)
                elif not order.is_charged:
                    # Charged after the order ended (it expired meanwhile): give it back.
                    order.request_refund(
                        actor=actor, reason=f"charged after the order was {order.status.value}"
                    )
            else:
                payment.fail(declined or "declined")
                if order.status is OrderStatus.PENDING_PAYMENT:
                    order.mark_payment_failed(actor=actor, reason=payment.last_error or "declined")
                    await release_stock(uow, order)
            await uow.commit()
        metrics.ORDERS.labels("paid" if reference is not None else "payment_failed").inc()
        log.info("order_payment_settled", order_id=str(order_id), status=order.status.value)
        return order.status

    async def _note_error(self, order_id: uuid.UUID, error: str) -> None:
        async with self._uow() as uow:
            payment = await uow.payments.for_order(order_id)
            if payment is not None:
                payment.last_error = error
                await uow.commit()

    async def refund(self, *, order_id: uuid.UUID, actor: Actor, reason: str | None = None) -> None:
        """Give an order's charge back (after ``OrderRefundRequested``): a cancelling order
        ends ``cancelled`` with its stock released; a refused refund puts it back to
        ``paid`` with the provider's reason. Idempotent: a refunded payment is left alone."""
        async with self._uow(read_only=True) as uow:
            payment = await uow.payments.for_order(order_id)
        if payment is None or payment.status is not PaymentStatus.SUCCEEDED:
            log.info("refund_not_due", order_id=str(order_id))
            return
        assert payment.provider_reference is not None  # noqa: S101 - succeeded payments have one
        try:
            refund_reference = await self._provider.refund(
                idempotency_key=payment.refund_key,
                reference=payment.provider_reference,
                amount_minor=payment.amount_minor,
            )
        except PaymentUnavailable as exc:
            raise PaymentProviderDown(
                "The refund could not be made now; it will be retried",
                retry_after=exc.retry_after,
            ) from exc
        except (PaymentDeclined, PaymentRejected) as exc:
            await self._refund_refused(order_id, actor=actor, reason=str(exc))
            return
        async with self._uow() as uow:
            order = await uow.orders.get_for_update(order_id)
            payment = await uow.payments.for_order(order_id)
            assert order is not None  # noqa: S101 - payments belong to orders
            assert payment is not None  # noqa: S101
            if payment.status is PaymentStatus.SUCCEEDED:
                payment.refund(refund_reference)
                held = order.holds_stock
                order.refunded(actor=actor, refund_reference=refund_reference, reason=reason)
                if held and not order.holds_stock:
                    await release_stock(uow, order)
                await uow.commit()
        metrics.ORDERS.labels("refunded").inc()
        log.info("order_refunded", order_id=str(order_id), status=order.status.value)

    async def _refund_refused(self, order_id: uuid.UUID, *, actor: Actor, reason: str) -> None:
        async with self._uow() as uow:
            order = await uow.orders.get_for_update(order_id, with_lines=False)
            payment = await uow.payments.for_order(order_id)
            assert order is not None  # noqa: S101
            if payment is not None:
                payment.last_error = f"refund refused: {reason}"
            order.refund_failed(actor=actor, reason=f"the provider refused the refund: {reason}")
            await uow.commit()
        log.warning("order_refund_refused", order_id=str(order_id), reason=reason)
