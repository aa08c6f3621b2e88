"""Keeping what a process builds at start-up out of the cyclic garbage collector's walks.

A long-running process (the API, a worker) builds most of what it keeps before its first
request or task: the modules, the ORM's mappers, FastAPI's routes and Pydantic's models, the
container. CPython's cyclic collector walks every tracked object on each full collection, so
under load those walks over objects that live as long as the process took about a fifth of
the API's CPU (``bench/run.py`` scenario 4, server CPU per request under wrk). ``gc.freeze``
moves the objects alive at that moment to a permanent generation that collections skip;
reference counting still frees them, and ``gc.unfreeze`` at the end gives them back (a test
process builds many applications, one after the other).

No collection runs first: it would cost about 100 ms at start-up (more in a test process),
and the automatic ones during the imports leave next to nothing behind (none found at the
end of the API's start-up); what little garbage is frozen stays until the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def started_objects_frozen() -> Iterator[None]:
    """Everything alive now is frozen until the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
