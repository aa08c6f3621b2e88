"""order_views: the orders' read model, one row per order; existing orders projected

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 12:00:00.000000+00:00
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    views = op.create_table(
        "order_views",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_step_type", sa.String(length=50), nullable=True),
        sa.Column("last_step_sequence", sa.Integer(), nullable=True),
        sa.Column("last_step_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_views_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_views")),
    )
    op.create_index(
        "ix_order_views_user_id_created_at",
        "order_views",
        ["user_id", "created_at", "order_id"],
    )
    op.create_index("ix_order_views_created_at", "order_views", ["created_at", "order_id"])
    _backfill(views)


def downgrade() -> None:
    op.drop_index("ix_order_views_created_at", table_name="order_views")
    op.drop_index("ix_order_views_user_id_created_at", table_name="order_views")
    op.drop_table("order_views")


_ID, _TIME = sa.Uuid(), sa.DateTime(timezone=True)
_orders = sa.table(
    "orders",
    sa.column("id", _ID),
    sa.column("user_id", _ID),
    sa.column("status", sa.String()),
    sa.column("total_minor", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("created_at", _TIME),
    sa.column("updated_at", _TIME),
    sa.column("timeline_position", sa.Integer()),
)
_lines = sa.table(
    "order_lines",
    sa.column("order_id", _ID),
    sa.column("position", sa.Integer()),
    sa.column("item_id", _ID),
    sa.column("quantity", sa.Integer()),
    sa.column("unit_price_minor", sa.BigInteger()),
)
_items = sa.table("items", sa.column("id", _ID), sa.column("name", sa.String()))
_timeline = sa.table(
    "order_timeline",
    sa.column("order_id", _ID),
    sa.column("sequence", sa.Integer()),
    sa.column("type", sa.String()),
    sa.column("occurred_at", _TIME),
)


def _backfill(views: sa.Table) -> None:
    """Every existing order's row, in batches by id: its lines with the items' names and its
    last timeline entry (the one at its timeline position)."""
    connection = op.get_bind()
    orders = (
        sa.select(
            _orders,
            _timeline.c.type.label("step_type"),
            _timeline.c.sequence.label("step_sequence"),
            _timeline.c.occurred_at.label("step_at"),
        )
        .select_from(
            _orders.outerjoin(
                _timeline,
                (_timeline.c.order_id == _orders.c.id)
                & (_timeline.c.sequence == _orders.c.timeline_position),
            )
        )
        .where(_orders.c.id > sa.bindparam("after"))
        .order_by(_orders.c.id)
        .limit(BATCH)
    )
    lines = (
        sa.select(_lines, _items.c.name)
        .select_from(_lines.join(_items, _items.c.id == _lines.c.item_id))
        .where(_lines.c.order_id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(_lines.c.order_id, _lines.c.position)
    )
    after = uuid.UUID(int=0)
    while batch := connection.execute(orders, {"after": after}).all():
        ids = [row.id for row in batch]
        by_order: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for line in connection.execute(lines, {"ids": ids}):
            by_order.setdefault(line.order_id, []).append(
                {
                    "item_id": str(line.item_id),
                    "name": line.name,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                }
            )
        connection.execute(
            views.insert(),
            [
                {
                    "order_id": row.id,
                    "user_id": row.user_id,
                    "status": row.status,
                    "total_minor": row.total_minor,
                    "currency": row.currency,
                    "lines": by_order.get(row.id, []),
                    "last_step_type": row.step_type,
                    "last_step_sequence": row.step_sequence,
                    "last_step_at": row.step_at,
                    "created_at": row.created_at,
                    "updated_at": row.updated_at,
                }
                for row in batch
            ],
        )
        after = ids[-1]
