"""orders: the cancelling status (a paid order waiting for its refund)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_orders_order_status"
BEFORE = ("pending_payment", "paid", "fulfilled", "payment_failed", "cancelled", "expired")
AFTER = (*BEFORE[:4], "cancelling", *BEFORE[4:])


def _allow(statuses: tuple[str, ...]) -> None:
    condition = "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))
    # SQLite cannot alter a constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(op.f(CONSTRAINT), condition)


def upgrade() -> None:
    _allow(AFTER)


def downgrade() -> None:
    # Orders still cancelling keep their money and their status until then: back to paid.
    op.execute("UPDATE orders SET status = 'paid' WHERE status = 'cancelling'")
    _allow(BEFORE)
