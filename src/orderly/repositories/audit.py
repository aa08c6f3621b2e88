"""The administrators' audit record. Never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orderly.models import AdminAudit


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, record: AdminAudit) -> None:
        self._session.add(record)
