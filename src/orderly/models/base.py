"""Declarative base: one MetaData naming convention, UTC-aware timestamps, recorded events."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Column, DateTime, Enum, MetaData, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from orderly.events.types import Event

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; orderly stores timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(kind: type[StrEnum], name: str, length: int) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, storing the values."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RecordsEvents:
    """An entity that records what happened to it. The unit of work collects the events of
    every entity it loaded or added and writes them to the outbox in the same commit, so no
    state change exists without its event. (Kept in the instance's ``__dict__``: the ORM
    builds loaded entities without calling ``__init__``.)"""

    def record(self, event: Event) -> None:
        self.__dict__.setdefault("_recorded_events", []).append(event)

    def collect_events(self) -> list[Event]:
        """The events recorded since the last collection, oldest first; forgets them."""
        events: list[Event] = self.__dict__.pop("_recorded_events", [])
        return events


class MissingColumnValue(ValueError):
    """An entity was added without a value for a NOT NULL column that has no default."""


@cache
def _columns_of(entity_type: type[Base]) -> tuple[tuple[str, Column[Any]], ...]:
    """(attribute, column) for every mapped column of ``entity_type``."""
    return tuple(
        (attribute.key, column)
        for attribute in inspect(entity_type).column_attrs
        for column in attribute.columns
        if isinstance(column, Column)
    )


def insert_row(entity: Base) -> dict[str, Any]:
    """The entity as one row of a Core INSERT, keyed by column name. A column left ``None``
    gets the model's default, set on the entity too (an INSERT given None would write NULL:
    a default is never skipped); an autoincrement key left ``None`` is left out for the
    database to number; a NOT NULL column with neither raises ``MissingColumnValue``."""
    row: dict[str, Any] = {}
    for attribute, column in _columns_of(type(entity)):
        value = getattr(entity, attribute)
        if value is None and column.default is not None:
            default: Any = column.default
            value = default.arg(None) if default.is_callable else default.arg
            setattr(entity, attribute, value)
        if value is None and column.primary_key and column.autoincrement is True:
            continue
        if value is None and not column.nullable and column.server_default is None:
            raise MissingColumnValue(f"{column.table.name}.{column.name} has no value")
        row[column.name] = value
    return row
