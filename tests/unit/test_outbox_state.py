"""An outbox message's state, as the admin panel shows it and `orderly outbox status`
counts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderly.models import OutboxMessage, OutboxState

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("published", "deliveries", "last_error", "handled", "overdue", "state"),
    [
        (False, 0, None, False, True, OutboxState.PENDING),
        (False, 0, "broker down", False, True, OutboxState.FAILING),
        (True, 1, None, False, True, OutboxState.IN_FLIGHT),
        (True, 4, None, False, True, OutboxState.IN_FLIGHT),
        (True, 5, None, False, False, OutboxState.IN_FLIGHT),  # its last wait is not over
        (True, 5, None, False, True, OutboxState.ABANDONED),
        (True, 5, None, True, True, OutboxState.HANDLED),
        (True, 1, None, True, False, OutboxState.HANDLED),
    ],
)
def test_a_message_s_state_follows_its_hand_overs_and_acknowledgement(
    published: bool,
    deliveries: int,
    last_error: str | None,
    handled: bool,
    overdue: bool,
    state: OutboxState,
) -> None:
    message = OutboxMessage(
        event_type="order.placed",
        payload={},
        published_at=NOW if published else None,
        deliveries=deliveries,
        last_error=last_error,
        handled_at=NOW if handled else None,
        available_at=NOW - timedelta(seconds=1) if overdue else NOW + timedelta(minutes=10),
    )
    assert message.state(max_deliveries=5, now=NOW) is state
