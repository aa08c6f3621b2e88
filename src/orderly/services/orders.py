"""Orders: placing them (reserving stock, idempotently), reading, paying, cancelling, fulfilling.

Stock is reserved with one conditional UPDATE per line, in item-id order, inside the order's
transaction: it never goes below zero and two orders never wait on each other in a cycle.
Network calls to the payment provider happen between transactions, never inside one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from orderly.core import metrics
from orderly.core.errors import Conflict, NotFound, Unavailable, Unprocessable
from orderly.events.types import (
    OrderCancelled,
    OrderExpired,
    OrderFulfilled,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
)
from orderly.integrations.payments import PaymentDeclined, PaymentProvider, PaymentUnavailable
from orderly.models import LineRequest, Order, OrderStatus, Payment, PaymentStatus, User
from orderly.unit_of_work import ConstraintViolated, UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)


class OrderNotFound(NotFound):
    code = "order-not-found"


class InvalidOrderLines(Unprocessable):
    code = "invalid-order-lines"


class ItemUnavailable(Unprocessable):
    code = "item-unavailable"


class InsufficientStock(Conflict):
    code = "insufficient-stock"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency-key-reused"


class PaymentMethodMissing(Unprocessable):
    code = "payment-method-missing"


class PaymentProviderDown(Unavailable):
    code = "payment-provider-unavailable"


@dataclass(frozen=True, slots=True)
class NewLine:
    item_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order: Order
    created: bool  # False when an earlier request with the same idempotency key is replayed


def fingerprint(lines: Sequence[NewLine], payment_method: str | None) -> str:
    canonical = json.dumps(
        {"lines": [[str(line.item_id), line.quantity] for line in lines], "pm": payment_method},
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class OrderService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        payments: PaymentProvider,
        max_quantity: int,
        max_lines: int,
    ) -> None:
        self._uow = uow
        self._payments = payments
        self._max_quantity = max_quantity
        self._max_lines = max_lines

    # -- placing -------------------------------------------------------------------------

    async def place(
        self,
        *,
        user_id: uuid.UUID,
        lines: Sequence[NewLine],
        idempotency_key: str | None = None,
        payment_method: str | None = None,
    ) -> PlacedOrder:
        self._check_lines(lines)
        digest = fingerprint(lines, payment_method)
        try:
            async with self._uow() as uow:
                if idempotency_key:  # a retry is answered from the same transaction
                    earlier = await uow.orders.get_by_idempotency_key(user_id, idempotency_key)
                    if earlier is not None:
                        return self._replayed(earlier, digest)
                order = await self._reserve_and_create(
                    uow,
                    user_id=user_id,
                    lines=lines,
                    idempotency_key=idempotency_key,
                    payment_method=payment_method,
                    digest=digest,
                )
                await uow.commit()
        except ConstraintViolated:
            # A concurrent request with the same key committed first: answer with its order.
            if idempotency_key and (winner := await self._replay(user_id, idempotency_key, digest)):
                return winner
            raise
        metrics.ORDERS.labels("placed").inc()
        log.info("order_placed", order_id=str(order.id), total_minor=order.total_minor)
        return PlacedOrder(order, created=True)

    def _check_lines(self, lines: Sequence[NewLine]) -> None:
        if not lines:
            raise InvalidOrderLines("An order needs at least one line", field="lines")
        if len(lines) > self._max_lines:
            raise InvalidOrderLines(f"At most {self._max_lines} lines per order", field="lines")
        seen: set[uuid.UUID] = set()
        for index, line in enumerate(lines):
            if line.item_id in seen:
                raise InvalidOrderLines(
                    "The same item appears twice; combine the quantities",
                    field=f"lines.{index}.item_id",
                )
            seen.add(line.item_id)
            if not 1 <= line.quantity <= self._max_quantity:
                raise InvalidOrderLines(
                    f"Quantity must be between 1 and {self._max_quantity}",
                    field=f"lines.{index}.quantity",
                )

    async def _reserve_and_create(
        self,
        uow: UnitOfWork,
        *,
        user_id: uuid.UUID,
        lines: Sequence[NewLine],
        idempotency_key: str | None,
        payment_method: str | None,
        digest: str,
    ) -> Order:
        items = {
            item.id: item for item in await uow.items.get_many([line.item_id for line in lines])
        }
        requests: list[LineRequest] = []
        for index, line in enumerate(lines):
            item = items.get(line.item_id)
            if item is None or not item.is_active:
                raise ItemUnavailable(
                    f"Item {line.item_id} does not exist or is no longer sold",
                    field=f"lines.{index}.item_id",
                )
            requests.append(LineRequest(item=item, quantity=line.quantity))
        order = Order.place(
            user_id=user_id,
            lines=requests,
            payment_method=payment_method,
            idempotency_key=idempotency_key,
            request_fingerprint=digest,
        )
        # Fixed lock order (by item id) so concurrent multi-line orders cannot deadlock.
        for index, line in sorted(enumerate(lines), key=lambda pair: pair[1].item_id):
            if not await uow.items.reserve_stock(line.item_id, line.quantity):
                raise InsufficientStock(
                    f"Not enough stock of {items[line.item_id].name} for {line.quantity}",
                    field=f"lines.{index}.quantity",
                )
        uow.orders.add(order)
        uow.emit(OrderPlaced(order_id=order.id, user_id=user_id))
        return order

    async def _replay(self, user_id: uuid.UUID, key: str, digest: str) -> PlacedOrder | None:
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get_by_idempotency_key(user_id, key)
        return None if order is None else self._replayed(order, digest)

    @staticmethod
    def _replayed(order: Order, digest: str) -> PlacedOrder:
        """The earlier order for a repeated key, if the request is the same one."""
        if order.request_fingerprint != digest:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body"
            )
        return PlacedOrder(order, created=False)

    # -- reading -------------------------------------------------------------------------

    async def get(self, *, actor: User, order_id: uuid.UUID) -> Order:
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(order_id)
        return self._visible(actor, order, order_id)

    async def list_orders(
        self,
        *,
        actor: User,
        limit: int,
        offset: int,
        status: OrderStatus | None = None,
        user_id: uuid.UUID | None = None,
    ) -> tuple[list[Order], int]:
        """Customers see their own orders; an admin sees all, optionally one user's."""
        owner = user_id if actor.is_admin else actor.id
        async with self._uow(read_only=True) as uow:
            return await uow.orders.page(limit=limit, offset=offset, user_id=owner, status=status)

    async def browse(
        self,
        *,
        actor: User,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
        status: OrderStatus | None = None,
        user_id: uuid.UUID | None = None,
    ) -> list[Order]:
        """Keyset pages, newest first (API v2); the same visibility as ``list``."""
        owner = user_id if actor.is_admin else actor.id
        async with self._uow(read_only=True) as uow:
            return await uow.orders.page_after(
                limit=limit, user_id=owner, status=status, after=after
            )

    @staticmethod
    def _visible(actor: User, order: Order | None, order_id: uuid.UUID) -> Order:
        # Someone else's order is answered like a missing one: ids are not confirmed to strangers.
        if order is None or (order.user_id != actor.id and not actor.is_admin):
            raise OrderNotFound(f"No order with id {order_id}")
        return order

    # -- transitions ---------------------------------------------------------------------

    async def fulfil(self, *, order_id: uuid.UUID) -> Order:
        async with self._uow() as uow:
            order = await uow.orders.get(order_id, for_update=True)
            if order is None:
                raise OrderNotFound(f"No order with id {order_id}")
            order.fulfil()
            uow.emit(OrderFulfilled(order_id=order.id, user_id=order.user_id))
            await uow.commit()
        metrics.ORDERS.labels("fulfilled").inc()
        return order

    async def cancel(self, *, actor: User, order_id: uuid.UUID) -> Order:
        """Cancel and release the stock; a paid order is refunded at the provider first.

        The order row stays locked while the refund is asked for, so nothing else moves the
        order in between; the refund's idempotency key makes a repeated cancel refund once.
        """
        async with self._uow() as uow:
            order = self._visible(actor, await uow.orders.get(order_id, for_update=True), order_id)
            previous = order.cancel()
            if previous is OrderStatus.PAID:
                payment = await uow.orders.get_payment(order.id)
                if payment is not None and payment.status is PaymentStatus.SUCCEEDED:
                    await self._refund(payment)
            await self._release(uow, order)
            uow.emit(
                OrderCancelled(
                    order_id=order.id,
                    user_id=order.user_id,
                    refunded=previous is OrderStatus.PAID,
                )
            )
            await uow.commit()
        metrics.ORDERS.labels("cancelled").inc()
        log.info("order_cancelled", order_id=str(order.id), refunded=previous is OrderStatus.PAID)
        return order

    async def _refund(self, payment: Payment) -> None:
        assert payment.provider_reference is not None  # noqa: S101 - succeeded payments have one
        try:
            reference = await self._payments.refund(
                idempotency_key=payment.refund_key,
                reference=payment.provider_reference,
                amount_minor=payment.amount_minor,
            )
        except PaymentUnavailable as exc:
            raise PaymentProviderDown(
                "The refund could not be made now; the order is unchanged, try again later",
                retry_after=exc.retry_after,
            ) from exc
        payment.refund(reference)

    @staticmethod
    async def _release(uow: UnitOfWork, order: Order) -> None:
        for line in sorted(order.lines, key=lambda line: line.item_id):
            await uow.items.release_stock(line.item_id, line.quantity)

    async def expire_unpaid(self, *, older_than: timedelta, limit: int = 500) -> int:
        """Expire orders left unpaid for longer than ``older_than`` and release their stock."""
        cutoff = datetime.now(UTC) - older_than
        async with self._uow() as uow:
            candidates = await uow.orders.pending_ids_before(cutoff, limit=limit)
        expired = 0
        for order_id in candidates:
            async with self._uow() as uow:
                order = await uow.orders.get(order_id, for_update=True)
                if order is None or order.status is not OrderStatus.PENDING_PAYMENT:
                    continue  # paid or cancelled in the meantime
                order.expire()
                await self._release(uow, order)
                uow.emit(OrderExpired(order_id=order.id, user_id=order.user_id))
                await uow.commit()
            expired += 1
        if expired:
            metrics.ORDERS.labels("expired").inc(expired)
            log.info("orders_expired", count=expired)
        return expired

    # -- paying --------------------------------------------------------------------------

    async def pay_as(
        self, *, actor: User, order_id: uuid.UUID, payment_method: str | None = None
    ) -> Order:
        """A customer (or an admin) pays now; someone else's order is answered as missing.
        Returns the order as it is after the payment, with its lines."""
        await self.get(actor=actor, order_id=order_id)
        await self.pay(order_id=order_id, payment_method=payment_method)
        return await self.get(actor=actor, order_id=order_id)

    async def pay(self, *, order_id: uuid.UUID, payment_method: str | None = None) -> OrderStatus:
        """Charge the order once; returns its status after. Idempotent: paying a paid order
        changes nothing.

        A decline fails the order and releases its stock; a provider that stays unreachable
        through the retries leaves the order ``pending_payment`` for a later attempt. The
        order is locked without its lines (one query less per transaction, twice per
        payment in the worker): only a decline reads them.
        """
        async with self._uow() as uow:
            order = await uow.orders.lock_alone(order_id)  # paying never reads the lines
            if order is None:
                raise OrderNotFound(f"No order with id {order_id}")
            if order.status is not OrderStatus.PENDING_PAYMENT:
                if order.status in {OrderStatus.PAID, OrderStatus.FULFILLED}:
                    return order.status
                order.mark_paid()  # raises IllegalTransition with the reason
            method = payment_method or order.payment_method
            if not method:
                raise PaymentMethodMissing(
                    "No payment method: send one with the payment", field="payment_method"
                )
            order.payment_method = method
            payment = await uow.orders.get_payment(order.id)
            if payment is None:
                payment = Payment(
                    id=uuid.uuid4(),
                    order_id=order.id,
                    amount_minor=order.total_minor,
                    currency=order.currency,
                    status=PaymentStatus.PENDING,
                    attempts=0,
                )
                uow.orders.add_payment(payment)
            payment.record_attempt()
            await uow.commit()
        charge_key, amount, currency = payment.charge_key, order.total_minor, order.currency

        try:
            reference = await self._payments.charge(
                idempotency_key=charge_key,
                amount_minor=amount,
                currency=currency,
                payment_method=method,
            )
        except PaymentDeclined as exc:
            return await self._settle(order_id, declined=str(exc))
        except PaymentUnavailable as exc:
            await self._note_error(order_id, str(exc))
            raise PaymentProviderDown(
                "The payment provider is unavailable; the order is still pending, try later",
                retry_after=exc.retry_after,
            ) from exc
        return await self._settle(order_id, reference=reference)

    async def _settle(
        self, order_id: uuid.UUID, *, reference: str | None = None, declined: str | None = None
    ) -> OrderStatus:
        async with self._uow() as uow:
            # Only a decline reads the lines (to release their stock).
            if reference is None:
                order = await uow.orders.get(order_id, for_update=True)
            else:
                order = await uow.orders.lock_alone(order_id)
            payment = await uow.orders.get_payment(order_id)
            assert order is not None  # noqa: S101 - both were written by pay()
            assert payment is not None  # noqa: S101
            if reference is not None:
                payment.succeed(reference)
                if order.status is OrderStatus.PENDING_PAYMENT:
                    order.mark_paid()
                    uow.emit(OrderPaid(order_id=order.id, user_id=order.user_id))
                elif order.status in {OrderStatus.CANCELLED, OrderStatus.EXPIRED}:
                    # Charged after the order ended (e.g. it expired meanwhile): give it back.
                    await self._refund(payment)
            else:
                payment.fail(declined or "declined")
                if order.status is OrderStatus.PENDING_PAYMENT:
                    order.mark_payment_failed()
                    await self._release(uow, order)
                    uow.emit(
                        OrderPaymentFailed(
                            order_id=order.id,
                            user_id=order.user_id,
                            reason=payment.last_error or "",
                        )
                    )
            await uow.commit()
        metrics.ORDERS.labels("paid" if reference is not None else "payment_failed").inc()
        log.info("order_payment_settled", order_id=str(order_id), status=order.status.value)
        return order.status

    async def _note_error(self, order_id: uuid.UUID, error: str) -> None:
        async with self._uow() as uow:
            payment = await uow.orders.get_payment(order_id)
            if payment is not None:
                payment.last_error = error
                await uow.commit()
