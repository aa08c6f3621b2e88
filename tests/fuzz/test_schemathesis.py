"""The whole API under schemathesis: a bounded, seeded run in make test, a deep one in
make test-all (see schemathesis_run.py for what it checks and which rules it is told about)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderly.core.config import Settings
from orderly.main import create_app
from tests.conftest import migrated_database, settings_for
from tests.fuzz import schemathesis_run
from tests.services import ServiceSettings

# Checks that must have run, so a pass means they looked at something.
ESSENTIAL_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
    "orders_stay_with_their_owner",
}


# make test fuzzes the production database; make test-all both (the SQLite run is slow).
@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.slow),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
)
def fuzz_database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    service_settings: ServiceSettings,
) -> Iterator[str]:
    """A database of its own: the run leaves hundreds of generated rows behind."""
    yield from migrated_database(request.param, tmp_path_factory, service_settings)


def fuzz_settings(database_url: str, tmp_path: Path) -> Settings:
    return settings_for(
        database_url,
        embedded_jobs=False,
        # Rate limits are tested on their own; here they would turn most writes into 429s.
        rate_limit_enabled=False,
        log_level="WARNING",
        mail_dir=str(tmp_path / "mail"),
    )


def fuzz(
    database_url: str, tmp_path: Path, *, max_examples: int, max_time: int | None = None
) -> None:
    settings = fuzz_settings(database_url, tmp_path)
    tokens = asyncio.run(schemathesis_run.create_identities(settings))
    wfc = schemathesis_run.write_wfc_document(tokens, tmp_path / "identities.json")
    app = create_app(settings)  # fresh: schemathesis runs it on its own loop and thread
    config = schemathesis_run.config(
        wfc_path=wfc, app=app, seed=17, max_examples=max_examples, max_time=max_time
    )
    outcome = schemathesis_run.run(app, config)
    assert not outcome.errors, "\n".join(outcome.errors)
    assert not outcome.findings, "\n\n".join(str(f) for f in outcome.findings.values())
    assert set(outcome.checks_run) >= ESSENTIAL_CHECKS, outcome.checks_run


def test_the_api_passes_every_schemathesis_check(fuzz_database: str, tmp_path: Path) -> None:
    fuzz(fuzz_database, tmp_path, max_examples=3)


@pytest.mark.slow
def test_the_api_passes_every_schemathesis_check_deeply(fuzz_database: str, tmp_path: Path) -> None:
    fuzz(fuzz_database, tmp_path, max_examples=100, max_time=240)
