"""Orders (read-only fields; fulfil, cancel and notes through OrderService, so the state
machine decides, and the events, timeline and mails follow with the admin as actor) and
payments (read-only)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin.filters import StaticValuesFilter
from starlette.datastructures import FormData
from starlette.requests import Request

from orderly.admin.base import PanelAction, PanelView, current_admin, parse_id
from orderly.models import Order, OrderStatus, Payment
from orderly.schemas.orders import OrderCancel
from orderly.schemas.timeline import TimelineNoteCreate

_OPEN = {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.CANCELLING}


class OrderAdmin(PanelView, model=Order):
    name = "Order"
    name_plural = "Orders"
    icon = "fa-solid fa-cart-shopping"
    can_create = False
    can_edit = False
    can_delete = False
    details_template = "orderly/order_details.html"
    column_list: ClassVar[Any] = [
        Order.id,
        Order.status,
        Order.total_minor,
        Order.currency,
        Order.user_id,
        Order.created_at,
    ]
    column_details_list: ClassVar[Any] = [
        Order.id,
        Order.user_id,
        Order.status,
        Order.total_minor,
        Order.currency,
        Order.payment_method,
        Order.created_at,
        Order.updated_at,
    ]
    column_searchable_list: ClassVar[Any] = [Order.id, Order.user_id]
    column_sortable_list: ClassVar[Any] = [Order.created_at, Order.total_minor, Order.status]
    column_default_sort: ClassVar[Any] = [(Order.created_at, True)]
    column_filters: ClassVar[Any] = [
        StaticValuesFilter(
            Order.status, values=[(s.value, s.value) for s in OrderStatus], title="Status"
        ),
    ]
    column_labels: ClassVar[Any] = {Order.total_minor: "Total (minor units)"}

    async def details_context(self, request: Request) -> dict[str, Any]:
        """The lines and the timeline, read through the service as the API reads them."""
        order = await self.services().orders.get_order(
            actor=current_admin(request),
            order_id=parse_id(request.path_params["pk"]),
            with_timeline=True,
        )
        return {"order": order, "note_url": self.action_url(request, order, "note")}

    def panel_actions(self, request: Request, obj: Any) -> list[PanelAction]:
        if obj.status not in _OPEN:
            return []
        refund = obj.status is OrderStatus.PAID
        return [
            PanelAction("fulfil", "Fulfil"),
            PanelAction(
                "cancel", "Cancel and refund" if refund else "Cancel", "danger", reason=True
            ),
        ]

    async def run_action(self, request: Request, pk: str, action: str, form: FormData) -> str:
        orders, admin, order_id = self.services().orders, current_admin(request), parse_id(pk)
        if action == "fulfil":
            await orders.fulfil(actor=admin, order_id=order_id)
            return "The order is fulfilled"
        if action == "cancel":
            reason = str(form.get("reason") or "").strip() or None
            body = OrderCancel.model_validate({"reason": reason})
            order = await orders.cancel(actor=admin, order_id=order_id, reason=body.reason)
            if order.status is OrderStatus.CANCELLING:
                return "Cancelling: the payment is being refunded, then the order is cancelled"
            return "The order is cancelled"
        if action == "note":
            note = TimelineNoteCreate.model_validate({"note": str(form.get("note") or "")})
            await orders.add_note(actor=admin, order_id=order_id, note=note.note)
            return "Note added to the timeline"
        return await super().run_action(request, pk, action, form)


class PaymentAdmin(PanelView, model=Payment):
    name = "Payment"
    name_plural = "Payments"
    icon = "fa-solid fa-credit-card"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        Payment.order_id,
        Payment.status,
        Payment.amount_minor,
        Payment.currency,
        Payment.attempts,
        Payment.provider_reference,
    ]
    column_details_exclude_list: ClassVar[Any] = []
    column_searchable_list: ClassVar[Any] = [Payment.order_id, Payment.provider_reference]
    column_sortable_list: ClassVar[Any] = [
        Payment.amount_minor,
        Payment.attempts,
        Payment.created_at,
    ]
    column_default_sort: ClassVar[Any] = [(Payment.created_at, True)]
