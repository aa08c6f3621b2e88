"""The models and the Alembic revisions describe the same schema, on every backend."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from orderly import migrate
from orderly.core.crypto import SecretBox, new_key
from orderly.models import Base


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql+asyncpg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_autogenerate_finds_no_difference(database_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    await engine.dispose()
    assert differences == []


def test_migrations_downgrade_to_base_and_back(database_url: str) -> None:
    migrate.downgrade(database_url, "base")
    try:
        engine = create_engine(_sync_url(database_url)) if "sqlite" in database_url else None
        if engine is not None:
            with engine.connect() as connection:
                tables = connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name='items'"
                ).all()
            engine.dispose()
            assert tables == []
    finally:
        migrate.upgrade(database_url)


_ID, _TIME = sa.Uuid(), sa.DateTime(timezone=True)
_USERS = sa.table(
    "users",
    *(
        sa.column(name, _ID if name == "id" else _TIME if name.endswith("_at") else None)
        for name in (
            "id",
            "email",
            "password_hash",
            "full_name",
            "role",
            "is_active",
            "token_version",
            "failed_logins",  # from revision 0009
            "totp_secret",  # from revision 0009
            "created_at",
            "updated_at",
        )
    ),
)
_ORDERS = sa.table(
    "orders",
    sa.column("id", _ID),
    sa.column("user_id", _ID),
    sa.column("status"),
    sa.column("total_minor"),
    sa.column("currency"),
    sa.column("created_at", _TIME),
    sa.column("updated_at", _TIME),
)
_PAYMENTS = sa.table(
    "payments",
    *(
        sa.column(name, _ID if name.endswith("id") else _TIME if name.endswith("_at") else None)
        for name in (
            "id",
            "order_id",
            "amount_minor",
            "currency",
            "status",
            "provider_reference",
            "attempts",
            "created_at",
            "updated_at",
        )
    ),
)


def _account(user: uuid.UUID, now: datetime, name: str) -> dict[str, object]:
    """A customer's row as the first revisions knew it."""
    return {
        "id": user,
        "email": f"{name}-{user.hex[:6]}@example.com",
        "password_hash": "x",
        "full_name": name.title(),
        "role": "customer",
        "is_active": True,
        "token_version": 0,
        "created_at": now,
        "updated_at": now,
    }


async def test_existing_orders_get_the_timeline_their_state_implies(database_url: str) -> None:
    """Revision 0005 gives orders placed before it the entries their state implies."""
    user, now = uuid.uuid4(), datetime.now(UTC)
    statuses = ("pending_payment", "paid", "cancelled", "fulfilled")
    orders = {status: uuid.uuid4() for status in statuses}
    await asyncio.to_thread(migrate.downgrade, database_url, "0004")
    try:
        engine = create_async_engine(database_url)
        stamps = {"created_at": now, "updated_at": now}
        async with engine.begin() as connection:
            await connection.execute(_USERS.insert().values(**_account(user, now, "old")))
            for status, order_id in orders.items():
                await connection.execute(
                    _ORDERS.insert().values(
                        id=order_id,
                        user_id=user,
                        status=status,
                        total_minor=500,
                        currency="EUR",
                        **stamps,
                    )
                )
            for status in ("paid", "fulfilled"):
                await connection.execute(
                    _PAYMENTS.insert().values(
                        id=uuid.uuid4(),
                        order_id=orders[status],
                        amount_minor=500,
                        currency="EUR",
                        status="succeeded",
                        provider_reference="pi_old",
                        attempts=1,
                        **stamps,
                    )
                )
        await engine.dispose()
        await asyncio.to_thread(migrate.upgrade, database_url)
        engine = create_async_engine(database_url)
        timeline = sa.table(
            "order_timeline",
            sa.column("order_id", _ID),
            sa.column("sequence"),
            sa.column("type"),
            sa.column("actor_kind"),
        )
        positions_of = sa.table("orders", sa.column("id", _ID), sa.column("timeline_position"))
        async with engine.connect() as connection:
            found = await connection.execute(
                sa.select(timeline)
                .where(timeline.c.order_id.in_(orders.values()))
                .order_by(timeline.c.order_id, timeline.c.sequence)
            )
            entries = found.all()
            positions = {
                row.id: row.timeline_position
                for row in await connection.execute(
                    sa.select(positions_of).where(positions_of.c.id.in_(orders.values()))
                )
            }
        await engine.dispose()
        story: dict[uuid.UUID, list[str]] = {}
        for entry in entries:
            story.setdefault(entry.order_id, []).append(entry.type)
        assert story[orders["pending_payment"]] == ["order.placed"]
        assert story[orders["paid"]] == ["order.placed", "order.paid"]
        assert story[orders["cancelled"]] == ["order.placed", "order.cancelled"]
        assert story[orders["fulfilled"]] == ["order.placed", "order.paid", "order.fulfilled"]
        assert positions == {order_id: len(story[order_id]) for order_id in orders.values()}
        actors = {(entry.type, entry.actor_kind) for entry in entries}
        assert ("order.placed", "customer") in actors
        assert ("order.paid", "system") in actors
    finally:
        await asyncio.to_thread(migrate.upgrade, database_url)
        cleanup = create_async_engine(database_url)
        async with cleanup.begin() as connection:
            for table in ("order_timeline", "payments"):
                rows = sa.table(table, sa.column("order_id", _ID))
                await connection.execute(rows.delete().where(rows.c.order_id.in_(orders.values())))
            await connection.execute(_ORDERS.delete().where(_ORDERS.c.user_id == user))
            await connection.execute(_USERS.delete().where(_USERS.c.id == user))
        await cleanup.dispose()


async def test_stored_totp_seeds_are_sealed_by_0013_and_opened_by_its_downgrade(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0013 seals the stored seeds only with ORDERLY_DATA_KEYS given where it runs; without
    them it leaves them as they are (the API reads those and seals them later)."""
    user, now, seed = uuid.uuid4(), datetime.now(UTC), "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    key = new_key()

    async def stored() -> str:
        engine = create_async_engine(database_url)
        async with engine.connect() as connection:
            query = sa.select(_USERS.c.totp_secret).where(_USERS.c.id == user)
            value: str = (await connection.execute(query)).scalar_one()
        await engine.dispose()
        return value

    monkeypatch.delenv("ORDERLY_DATA_KEYS", raising=False)
    await asyncio.to_thread(migrate.downgrade, database_url, "0012")
    try:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(
                _USERS.insert().values(
                    **_account(user, now, "seed"), failed_logins=0, totp_secret=seed
                )
            )
        await engine.dispose()
        await asyncio.to_thread(migrate.upgrade, database_url, "0013")
        assert await stored() == seed  # no keys here: not sealed with a guessed key
        await asyncio.to_thread(migrate.downgrade, database_url, "0012")
        monkeypatch.setenv("ORDERLY_DATA_KEYS", key)
        await asyncio.to_thread(migrate.upgrade, database_url, "0013")
        sealed = await stored()
        assert seed not in sealed
        assert SecretBox([key.encode()]).open(sealed) == seed
        await asyncio.to_thread(migrate.downgrade, database_url, "0012")
        assert await stored() == seed
    finally:
        await asyncio.to_thread(migrate.upgrade, database_url)
        cleanup = create_async_engine(database_url)
        async with cleanup.begin() as connection:
            await connection.execute(_USERS.delete().where(_USERS.c.id == user))
        await cleanup.dispose()
