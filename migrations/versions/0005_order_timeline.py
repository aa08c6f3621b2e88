"""order timeline: one entry per order event; existing orders get entries from what the
database knows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:30:00.000000+00:00
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECONSTRUCTED = "reconstructed by migration 0005 from the order's state"
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(
            sa.Column("timeline_position", sa.Integer(), nullable=False, server_default="0")
        )
    timeline = op.create_table(
        "order_timeline",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_timeline_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_timeline")),
        sa.UniqueConstraint("order_id", "sequence", name="uq_order_timeline_order_sequence"),
    )
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_timeline_order_id"), ["order_id"], unique=False)
    _backfill(timeline)
    with op.batch_alter_table("orders") as batch_op:
        batch_op.alter_column("timeline_position", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_timeline_order_id"))
    op.drop_table("order_timeline")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_column("timeline_position")


_orders = sa.table(
    "orders",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("timeline_position", sa.Integer()),
)
_payments = sa.table(
    "payments",
    sa.column("order_id", sa.Uuid()),
    sa.column("provider_reference", sa.String()),
    sa.column("refund_reference", sa.String()),
    sa.column("last_error", sa.Text()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _backfill(timeline: sa.Table) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _orders.c.id,
            _orders.c.user_id,
            _orders.c.status,
            _orders.c.created_at,
            _orders.c.updated_at,
            _payments.c.provider_reference,
            _payments.c.refund_reference,
            _payments.c.last_error,
            _payments.c.updated_at.label("paid_at"),
        ).select_from(_orders.outerjoin(_payments, _payments.c.order_id == _orders.c.id))
    )
    entries: list[dict[str, Any]] = []
    for row in rows:
        story = _story(row)
        entries += story
        connection.execute(
            _orders.update().where(_orders.c.id == row.id).values(timeline_position=len(story))
        )
        if len(entries) >= BATCH:
            connection.execute(timeline.insert(), entries)
            entries = []
    if entries:
        connection.execute(timeline.insert(), entries)


def _story(row: Any) -> list[dict[str, Any]]:
    """The steps the order must have taken to reach its status. Who took the steps after
    placing it is not known: they are the system's, with a reason saying so."""
    steps: list[tuple[str, str | None, str, dict[str, Any], datetime]] = [
        ("order.placed", None, "pending_payment", {}, row.created_at)
    ]
    charged = row.provider_reference is not None
    later = row.updated_at
    if row.status == "payment_failed":
        steps.append(("order.payment_failed", "pending_payment", row.status, {}, later))
    elif row.status == "expired":
        steps.append(("order.expired", "pending_payment", row.status, {}, later))
    elif row.status == "cancelled" and not charged:
        steps.append(("order.cancelled", "pending_payment", row.status, {"refunded": False}, later))
    elif row.status != "pending_payment":
        paid = {"payment_reference": row.provider_reference}
        steps.append(("order.paid", "pending_payment", "paid", paid, row.paid_at or later))
        if row.status == "fulfilled":
            steps.append(("order.fulfilled", "paid", row.status, {}, later))
        elif row.status == "cancelling":
            steps.append(("order.refund_requested", "paid", row.status, {}, later))
        elif row.status == "cancelled":
            refund = {"refunded": True, "refund_reference": row.refund_reference}
            steps.append(("order.cancelled", "paid", row.status, refund, later))
    return [
        {
            "id": uuid.uuid4(),
            "order_id": row.id,
            "sequence": position,
            "type": kind,
            "from_status": before,
            "to_status": after,
            "actor_kind": "customer" if position == 1 else "system",
            "actor_id": row.user_id if position == 1 else None,
            "reason": None if position == 1 else RECONSTRUCTED,
            "data": data,
            "occurred_at": at,
        }
        for position, (kind, before, after, data, at) in enumerate(steps, start=1)
    ]
