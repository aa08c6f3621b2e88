"""Keeping what the API builds at start-up out of the cyclic garbage collector's walks.

An API process builds most of what it keeps before its first request: the modules, the
ORM's mappers, FastAPI's routes and Pydantic's models, the container. CPython's cyclic
collector walks every tracked object on each full collection, so under load those walks
over objects that live as long as the process took a large share of its CPU and made the
latency's long tail (README, Benchmarks). ``gc.freeze`` moves the objects alive at that
moment to a permanent generation that collections skip. Reference counting still frees
them; a garbage cycle that holds a frozen object is not collected until the end, so code
that replaces something built at start-up at run time must not leave it in a cycle.
(Celery's pool processes gained nothing measurable: not done there.)

No collection runs first: a full one at every start-up (and in a test process, at every
application's) costs more than it finds, as the automatic ones during the imports leave
next to nothing behind.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Blocks open in this process. gc.unfreeze() thaws everything, so only the last block
# to end calls it (tests run two applications at once, and hundreds one after another).
_open_blocks = 0


@contextmanager
def started_objects_frozen() -> Iterator[None]:
    """Everything alive now is frozen until the last open block ends."""
    global _open_blocks  # noqa: PLW0603 - the process's collector is global too
    gc.freeze()
    _open_blocks += 1
    try:
        yield
    finally:
        _open_blocks -= 1
        if _open_blocks == 0:
            gc.unfreeze()
