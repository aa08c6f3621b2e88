"""Orders: placing them (reserving stock, idempotently), reading, cancelling, fulfilling,
expiring. Paying and refunding are in services/payments.py.

Stock is reserved with one conditional UPDATE per line, in item-id order, inside the order's
transaction: it never goes below zero and two orders never wait on each other in a cycle.
Every state change is made by the order entity, which records its event.
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
from orderly.core.errors import Conflict, Forbidden, Unprocessable
from orderly.events.types import Actor
from orderly.models import LineRequest, Order, OrderStatus, TimelineEntry, User

# Re-exported (``X as X`` is mypy's explicit form): the API and the other services import
# these from here.
from orderly.services.order_reading import OrderNotFound as OrderNotFound  # noqa: PLC0414
from orderly.services.order_reading import OrderReading
from orderly.services.order_reading import visible_to as visible_to  # noqa: PLC0414
from orderly.unit_of_work import ConstraintViolated, UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)


class InvalidOrderLines(Unprocessable):
    code = "invalid-order-lines"


class ItemUnavailable(Unprocessable):
    code = "item-unavailable"


class InsufficientStock(Conflict):
    code = "insufficient-stock"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency-key-reused"


class EmailNotVerified(Forbidden):
    """This shop requires a verified e-mail address before ordering
    (ORDERLY_REQUIRE_EMAIL_VERIFICATION): use the link mailed at registration, or ask for a
    new one (`POST /api/v1/auth/verify-email/resend`)."""

    code = "email-not-verified"


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


class OrderService(OrderReading):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        max_quantity: int,
        max_lines: int,
        require_verified_email: bool = False,
    ) -> None:
        self._uow = uow
        self._max_quantity = max_quantity
        self._max_lines = max_lines
        self._require_verified_email = require_verified_email

    # -- placing -------------------------------------------------------------------------

    async def place(
        self,
        *,
        customer: User,
        lines: Sequence[NewLine],
        idempotency_key: str | None = None,
        payment_method: str | None = None,
    ) -> PlacedOrder:
        user_id = customer.id
        if self._require_verified_email and not customer.email_verified:
            raise EmailNotVerified("Verify your e-mail address before ordering")
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
                    customer=customer,
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
        customer: User,
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
            actor=customer.as_actor(),
            user_id=customer.id,
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

    # -- transitions ---------------------------------------------------------------------

    async def add_note(self, *, actor: User, order_id: uuid.UUID, note: str) -> TimelineEntry:
        """A note on the order's timeline by an administrator (the route checks the role)."""
        async with self._uow() as uow:
            order = await uow.orders.get_for_update(order_id, with_lines=False)
            if order is None:
                raise OrderNotFound(f"No order with id {order_id}")
            order.add_note(actor=actor.as_actor(), note=note)
            position = order.timeline_position
            await uow.commit()
        entries = await self.timeline(actor=actor, order_id=order_id)
        return next(entry for entry in entries if entry.sequence == position)

    async def fulfil(self, *, actor: User, order_id: uuid.UUID) -> Order:
        """Shipped by the shop (admins only: the route checks the role)."""
        async with self._uow() as uow:
            order = await uow.orders.get_for_update(order_id)
            if order is None:
                raise OrderNotFound(f"No order with id {order_id}")
            order.fulfil(actor=actor.as_actor())
            await uow.commit()
        metrics.ORDERS.labels("fulfilled").inc()
        return order

    async def cancel(self, *, actor: User, order_id: uuid.UUID, reason: str | None = None) -> Order:
        """An unpaid order is cancelled and its stock released at once. A paid one becomes
        ``cancelling``: a worker asks the provider for the refund outside any transaction
        (``PaymentService.refund``) and finishes the cancellation. Returns the order as it
        is now."""
        async with self._uow() as uow:
            order = visible_to(actor, await uow.orders.get_for_update(order_id), order_id)
            order.cancel(actor=actor.as_actor(), reason=reason)
            if not order.holds_stock:
                await release_stock(uow, order)
            await uow.commit()
        done = order.status is OrderStatus.CANCELLED
        metrics.ORDERS.labels("cancelled" if done else "cancellation_requested").inc()
        log.info("order_cancel_requested", order_id=str(order.id), status=order.status.value)
        return order

    async def expire_unpaid(self, *, older_than: timedelta, limit: int = 500) -> int:
        """Expire orders left unpaid for longer than ``older_than`` and release their stock."""
        cutoff = datetime.now(UTC) - older_than
        async with self._uow(read_only=True) as uow:
            candidates = await uow.orders.pending_ids_before(cutoff, limit=limit)
        reason = f"not paid within {older_than}"
        expired = 0
        for order_id in candidates:
            async with self._uow() as uow:
                order = await uow.orders.get_for_update(order_id)
                if order is None or order.status is not OrderStatus.PENDING_PAYMENT:
                    continue  # paid or cancelled in the meantime
                order.expire(actor=Actor.system(), reason=reason)
                await release_stock(uow, order)
                await uow.commit()
            expired += 1
        if expired:
            metrics.ORDERS.labels("expired").inc(expired)
            log.info("orders_expired", count=expired)
        return expired


async def release_stock(uow: UnitOfWork, order: Order) -> None:
    """Give the order's reserved units back to the catalog (in item-id order, as reserved)."""
    for line in sorted(order.lines, key=lambda line: line.item_id):
        await uow.items.release_stock(line.item_id, line.quantity)
