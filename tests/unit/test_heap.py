"""Start-up objects frozen out of the cyclic collector's walks while a process serves."""

from __future__ import annotations

import gc
import weakref

from orderly.core.heap import started_objects_frozen


class Node:
    """Something that can sit in a reference cycle."""

    other: Node | None = None


def _cycle() -> weakref.ref[Node]:
    """A cycle nothing else holds (only the cyclic collector frees it), watched."""
    node = Node()
    node.other = node
    return weakref.ref(node)


def test_objects_alive_at_the_start_stay_until_the_end_and_new_ones_are_collected() -> None:
    gc.disable()  # no automatic collection between the cycle's making and the freeze
    try:
        before = _cycle()
        with started_objects_frozen():
            assert gc.get_freeze_count() > 1000  # the interpreter's and the test session's
            later = _cycle()
            gc.collect()
            assert later() is None  # made after the freeze: collected as usual
            assert before() is not None  # frozen: the collector skips it
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert before() is None  # thawed, collected again
    finally:
        gc.enable()


def test_the_freeze_lasts_until_the_last_open_block_ends() -> None:
    with started_objects_frozen():
        with started_objects_frozen():
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the outer application still serves
    assert gc.get_freeze_count() == 0
