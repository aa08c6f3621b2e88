from __future__ import annotations

import uuid
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Body, Depends, Header, Request, Response, status
from pydantic import BaseModel

from orderly.api.deps import AdminWriter, CurrentViewer, Orders, Payments, Writer
from orderly.api.openapi import problem_responses
from orderly.models import Order
from orderly.models.order import IllegalTransition, MixedCurrencies
from orderly.schemas.common import Page
from orderly.schemas.orders import (
    OrderCancel,
    OrderCreate,
    OrderFiltersQuery,
    OrderPay,
    OrderRead,
    order_read_json,
)
from orderly.services.orders import (
    EmailNotVerified,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrderLines,
    ItemUnavailable,
    NewLine,
    OrderNotFound,
)
from orderly.services.payments import PaymentMethodMissing, PaymentProviderDown
from orderly.unit_of_work import ConstraintViolated

router = APIRouter(prefix="/orders", tags=["orders"])

PLACING_PROBLEMS = problem_responses(
    InvalidOrderLines,
    ItemUnavailable,
    MixedCurrencies,
    InsufficientStock,
    IdempotencyKeyReused,
    ConstraintViolated,
    EmailNotVerified,
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="retrying with the same key and body returns the first order",
    ),
]


async def place(
    *,
    body: OrderCreate,
    user: Writer,
    orders: Orders,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Order:
    """Place the order, for both versions' ``POST .../orders``: 201 with its Location under
    the collection it was posted to, or 200 when an idempotency key replays it."""
    placed = await orders.place(
        customer=user,
        lines=[NewLine(item_id=line.item_id, quantity=line.quantity) for line in body.lines],
        idempotency_key=idempotency_key,
        payment_method=body.payment_method,
    )
    response.headers["Location"] = f"{request.url.path}/{placed.order.id}"
    if not placed.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return placed.order


PlacedOrder = Annotated[Order, Depends(place)]


def placing_responses(representation: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """What placing answers besides its 201: the replay and the problems."""
    replayed = "Replayed: the order this idempotency key created"
    return {200: {"model": representation, "description": replayed}, **PLACING_PROBLEMS}


@router.post("", status_code=status.HTTP_201_CREATED, responses=placing_responses(OrderRead))
async def place_order(order: PlacedOrder) -> OrderRead:
    return OrderRead.model_validate(order)


def _json(document: object) -> Response:
    """A read-model document as JSON: its rows hold what ``OrderRead`` says, so they are
    not validated again (``response_model`` documents the shape)."""
    return Response(pydantic_core.to_json(document), media_type="application/json")


@router.get("", response_model=Page[OrderRead])
async def list_orders(
    filters: OrderFiltersQuery, viewer: CurrentViewer, orders: Orders
) -> Response:
    found, total = await orders.list_orders(
        actor=viewer,
        limit=filters.limit,
        offset=filters.offset,
        status=filters.status,
        user_id=filters.user_id,
    )
    items = [order_read_json(view) for view in found]
    return _json({"items": items, "total": total, "limit": filters.limit, "offset": filters.offset})


@router.get("/{order_id}", response_model=OrderRead, responses=problem_responses(OrderNotFound))
async def read_order(order_id: uuid.UUID, viewer: CurrentViewer, orders: Orders) -> Response:
    return _json(order_read_json(await orders.view(actor=viewer, order_id=order_id)))


@router.post(
    "/{order_id}/pay",
    responses=problem_responses(
        OrderNotFound, IllegalTransition, PaymentMethodMissing, PaymentProviderDown
    ),
)
async def pay_order(
    order_id: uuid.UUID,
    user: Writer,
    payments: Payments,
    body: Annotated[OrderPay | None, Body()] = None,
) -> OrderRead:
    """Charge the order now (an order placed with a payment method is charged by a worker
    without this call); answers with the order as it is afterwards."""
    method = body.payment_method if body else None
    paid = await payments.pay(actor=user, order_id=order_id, payment_method=method)
    return OrderRead.model_validate(paid)


@router.post("/{order_id}/cancel", responses=problem_responses(OrderNotFound, IllegalTransition))
async def cancel_order(
    order_id: uuid.UUID,
    user: Writer,
    orders: Orders,
    body: Annotated[OrderCancel | None, Body()] = None,
) -> OrderRead:
    """An unpaid order is cancelled at once; a paid one answers ``cancelling`` and ends
    ``cancelled`` when the provider has refunded it (or back to ``paid`` if it refuses)."""
    reason = body.reason if body else None
    return OrderRead.model_validate(
        await orders.cancel(actor=user, order_id=order_id, reason=reason)
    )


@router.post("/{order_id}/fulfil", responses=problem_responses(OrderNotFound, IllegalTransition))
async def fulfil_order(order_id: uuid.UUID, admin: AdminWriter, orders: Orders) -> OrderRead:
    return OrderRead.model_validate(await orders.fulfil(actor=admin, order_id=order_id))
