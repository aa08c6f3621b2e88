"""Operators' use cases on the outbox: send a waiting (or failing) message again now."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from orderly.core.errors import NotFound
from orderly.unit_of_work import UnitOfWorkFactory


class OutboxMessageNotWaiting(NotFound):
    code = "outbox-message-not-waiting"


class OutboxService:
    def __init__(
        self, uow: UnitOfWorkFactory, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock or (lambda: datetime.now(UTC))

    async def retry(self, *, event_id: uuid.UUID) -> None:
        """Make an unpublished message due now: the next relay pass (or the in-process
        runner) takes it instead of waiting out its backoff. Handlers are idempotent, so a
        message a relay holds at that moment is at worst handed on twice."""
        async with self._uow() as uow:
            if not await uow.outbox.make_due(event_id, at=self._clock()):
                raise OutboxMessageNotWaiting(
                    f"No unpublished outbox message with id {event_id}", field="id"
                )
            await uow.commit()
