"""Queries on payments (one per order). Never commits."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import Payment

_FOR_ORDER = select(Payment).where(Payment.order_id == bindparam("order_id"))
_FOR_ORDERS = select(Payment).where(Payment.order_id.in_(bindparam("order_ids", expanding=True)))


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, payment: Payment) -> None:
        self._session.add(payment)

    async def for_order(self, order_id: uuid.UUID) -> Payment | None:
        return (await self._session.scalars(_FOR_ORDER, {"order_id": order_id})).one_or_none()

    async def for_orders(self, order_ids: list[uuid.UUID]) -> list[Payment]:
        """The payments of these orders (one query; orders not yet charged have none)."""
        return list(await self._session.scalars(_FOR_ORDERS, {"order_ids": order_ids}))
