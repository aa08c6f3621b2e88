"""``orderly projections rebuild`` without a terminal: no progress output, ``--json`` says
how many orders; the rebuilt read model is what the orders say."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import Cli
from tests.integration.cli.test_seed_and_report import PROGRESS_MARKS
from tests.integration.order_views import expected_views, projected_views


def test_rebuild_restores_the_read_model(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    cli.json("seed", "--items", "20", "--customers", "3", "--orders", "45", "--random-seed", "3")
    expected = cli.run(expected_views)
    assert len(expected) == 45
    assert cli.run(projected_views) == expected  # written with the orders

    cli.sql("DELETE FROM order_views")
    summary = cli.json("projections", "rebuild", "--batch", "10")
    assert summary["projection"] == "order_views"
    assert summary["orders"] == 45
    assert cli.run(projected_views) == expected

    plain = cli("projections", "rebuild")
    assert plain.stdout == ""
    assert "Rebuilt order_views: 45 orders" in plain.stderr
    assert not [mark for mark in PROGRESS_MARKS if mark in plain.stderr]
    assert cli.run(projected_views) == expected
