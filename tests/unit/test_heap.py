"""Start-up objects frozen out of the cyclic collector's walks while a process serves."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from orderly.core.heap import started_objects_frozen


def test_objects_alive_at_the_start_are_frozen_until_the_block_ends() -> None:
    with started_objects_frozen():
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the interpreter's and the test session's objects
        made_later: list[list[int]] = [[] for _ in range(10)]
        assert gc.get_freeze_count() == frozen  # new objects stay collectable
    assert made_later
    assert gc.get_freeze_count() == 0


async def test_the_served_application_runs_frozen(app: FastAPI) -> None:
    assert gc.get_freeze_count() > 0
