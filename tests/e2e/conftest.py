"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.databases import create_postgres_database, drop_postgres_database, migrate_to_head
from tests.services import ServiceSettings


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this module's own, dropped afterwards."""
    services = ServiceSettings()
    url = create_postgres_database(services)
    try:
        migrate_to_head(url)
        yield url
    finally:
        drop_postgres_database(services, url)
