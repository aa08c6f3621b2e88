"""order_timeline: index on the feed's position (occurred_at, order_id, sequence)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 18:05:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_order_timeline_position", "order_timeline", ["occurred_at", "order_id", "sequence"]
    )


def downgrade() -> None:
    op.drop_index("ix_order_timeline_position", table_name="order_timeline")
