"""Queries on sales reports. Never commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import SalesReport


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, report: SalesReport) -> None:
        self._session.add(report)

    async def get(self, report_id: uuid.UUID) -> SalesReport | None:
        return await self._session.get(SalesReport, report_id)
