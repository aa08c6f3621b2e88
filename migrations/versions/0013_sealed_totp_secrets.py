"""users.totp_secret: sealed with ORDERLY_DATA_KEYS (Fernet) instead of stored as it is

The seeds already stored are sealed here with the keys of the settings `orderly migrate` runs
with, the ones the API opens them with; downgrading opens them again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 20:20:00.000000+00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from orderly.core.config import Settings
from orderly.core.crypto import SecretBox

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USERS = sa.table("users", sa.column("id", sa.Uuid()), sa.column("totp_secret", sa.String()))


def _rewrite_seeds(change: Callable[[str], str]) -> None:
    connection = op.get_bind()
    stored = connection.execute(
        sa.select(_USERS.c.id, _USERS.c.totp_secret).where(_USERS.c.totp_secret.is_not(None))
    ).all()
    for user_id, seed in stored:
        connection.execute(
            _USERS.update().where(_USERS.c.id == user_id).values(totp_secret=change(seed))
        )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("totp_secret", type_=sa.String(255), existing_type=sa.String(64))
    _rewrite_seeds(SecretBox(Settings().sealing_keys).seal)


def downgrade() -> None:
    _rewrite_seeds(SecretBox(Settings().sealing_keys).open)
    with op.batch_alter_table("users") as batch:
        batch.alter_column("totp_secret", type_=sa.String(64), existing_type=sa.String(255))
