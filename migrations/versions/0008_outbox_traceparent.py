"""outbox: traceparent, the W3C trace context of the span that wrote the event

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 15:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites no rows (PostgreSQL) and old rows have none.
    op.add_column("outbox", sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:  # SQLite copies the table
        batch_op.drop_column("traceparent")
