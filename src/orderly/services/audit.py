"""The record of what an administrator did outside the order timeline (users, items,
the outbox, reports, webhooks): a structured log line and an ``admin_audit`` row."""

from __future__ import annotations

from typing import Any

import structlog

from orderly.models import AdminAudit, User
from orderly.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger(__name__)


class AuditService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def record(
        self,
        *,
        admin: User,
        action: str,
        target_type: str,
        target_id: object,
        details: dict[str, Any] | None = None,
    ) -> AdminAudit:
        """Written after the change it describes committed (the change is the service's own
        use case, in its own transaction)."""
        record = AdminAudit(
            admin_id=admin.id,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=details or {},
        )
        log.info(
            "admin_action",
            admin_id=str(admin.id),
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=details or {},
        )
        async with self._uow() as uow:
            uow.audit.add(record)
            await uow.commit()
        return record
