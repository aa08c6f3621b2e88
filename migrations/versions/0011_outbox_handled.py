"""outbox: handled_at and deliveries, so a hand-over lost in the broker is handed over again

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 17:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "outbox", sa.Column("deliveries", sa.Integer(), server_default="0", nullable=False)
    )
    # Rows handed over before this revision count as handled: nobody acknowledged them then.
    op.execute(
        "UPDATE outbox SET handled_at = published_at, deliveries = 1 WHERE published_at IS NOT NULL"
    )
    op.create_index("ix_outbox_unhandled", "outbox", ["handled_at", "available_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_unhandled", table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:  # SQLite copies the table
        batch_op.drop_column("deliveries")
        batch_op.drop_column("handled_at")
