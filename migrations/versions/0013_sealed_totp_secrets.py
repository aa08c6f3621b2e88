"""users.totp_secret: sealed with ORDERLY_DATA_KEYS (Fernet) instead of stored as it is

The column widens for the sealed form. The seeds already stored are sealed here only when
ORDERLY_DATA_KEYS is set where `orderly migrate` runs: a key derived from whatever
ORDERLY_SECRET_KEY this shell has might not be the API's. Otherwise they stay as they are
(the API reads them, and seals each at its account's next accepted code) until `orderly keys
reseal` runs with the API's settings. Downgrading opens them again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 20:20:00.000000+00:00
"""

import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from orderly.core.config import Settings
from orderly.core.crypto import SecretBox

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_USERS = sa.table("users", sa.column("id", sa.Uuid()), sa.column("totp_secret", sa.String()))


def _stored_seeds() -> list[tuple[object, str]]:
    query = sa.select(_USERS.c.id, _USERS.c.totp_secret).where(_USERS.c.totp_secret.is_not(None))
    return [(user_id, seed) for user_id, seed in op.get_bind().execute(query)]


def _rewrite(seeds: list[tuple[object, str]], change: Callable[[str], str]) -> None:
    for user_id, seed in seeds:
        op.get_bind().execute(
            _USERS.update().where(_USERS.c.id == user_id).values(totp_secret=change(seed))
        )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("totp_secret", type_=sa.String(255), existing_type=sa.String(64))
    seeds = _stored_seeds()
    if not seeds:
        return
    settings = Settings()
    if settings.data_keys is None:
        log.warning(
            "ORDERLY_DATA_KEYS is not set here: %d stored TOTP seed(s) left unsealed until "
            "their next use or `orderly keys reseal`",
            len(seeds),
        )
        return
    _rewrite(seeds, SecretBox(settings.sealing_keys).reseal)


def downgrade() -> None:
    seeds = _stored_seeds()
    if seeds:
        _rewrite(seeds, SecretBox(Settings().sealing_keys).open)
    with op.batch_alter_table("users") as batch:
        batch.alter_column("totp_secret", type_=sa.String(64), existing_type=sa.String(255))
