"""Queries on orders, their lines and their payment. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from orderly.models import Order, OrderStatus, Payment


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, order: Order) -> None:
        self._session.add(order)

    def add_payment(self, payment: Payment) -> None:
        self._session.add(payment)

    async def get(self, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        """The order with its lines; ``for_update`` locks the row (PostgreSQL) for a transition."""
        statement = select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
        if for_update:
            statement = statement.with_for_update()
        return (await self._session.scalars(statement)).one_or_none()

    async def get_by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None:
        statement = (
            select(Order)
            .where(Order.user_id == user_id, Order.idempotency_key == key)
            .options(selectinload(Order.lines))
        )
        return (await self._session.scalars(statement)).one_or_none()

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
    ) -> tuple[list[Order], int]:
        conditions: list[ColumnElement[bool]] = []
        if user_id is not None:
            conditions.append(Order.user_id == user_id)
        if status is not None:
            conditions.append(Order.status == status)
        page = (
            select(Order)
            .where(*conditions)
            .options(selectinload(Order.lines))
            .order_by(Order.created_at.desc(), Order.id)
            .limit(limit)
            .offset(offset)
        )
        orders = list(await self._session.scalars(page))
        total = await self._session.scalar(
            select(func.count()).select_from(Order).where(*conditions)
        )
        return orders, total or 0

    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Order]:
        """Keyset pagination, newest first: the ``limit`` orders older than ``after``."""
        conditions: list[ColumnElement[bool]] = []
        if user_id is not None:
            conditions.append(Order.user_id == user_id)
        if status is not None:
            conditions.append(Order.status == status)
        if after is not None:
            created, last_id = after
            conditions.append(
                or_(
                    Order.created_at < created,
                    and_(Order.created_at == created, Order.id < last_id),
                )
            )
        page = (
            select(Order)
            .where(*conditions)
            .options(selectinload(Order.lines))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
        return list(await self._session.scalars(page))

    async def pending_ids_before(self, cutoff: datetime, *, limit: int) -> list[uuid.UUID]:
        """Orders still waiting for payment that were placed before ``cutoff``."""
        statement = (
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.created_at < cutoff)
            .order_by(Order.created_at)
            .limit(limit)
        )
        return list(await self._session.scalars(statement))

    async def paid_between(self, start: datetime, end: datetime) -> list[Order]:
        """Orders paid or fulfilled that were placed in [start, end), with their lines."""
        statement = (
            select(Order)
            .where(
                Order.status.in_([OrderStatus.PAID, OrderStatus.FULFILLED]),
                Order.created_at >= start,
                Order.created_at < end,
            )
            .options(selectinload(Order.lines))
            .order_by(Order.created_at)
        )
        return list(await self._session.scalars(statement))

    async def get_payment(self, order_id: uuid.UUID) -> Payment | None:
        statement = select(Payment).where(Payment.order_id == order_id)
        return (await self._session.scalars(statement)).one_or_none()
