"""Application factories the benchmarks serve (``uvicorn --factory --app-dir bench apps:...``)."""

from __future__ import annotations

from fastapi import FastAPI

from orderly.core.config import Settings
from orderly.main import create_app


def full() -> FastAPI:
    """orderly as it is served: the whole middleware stack."""
    return create_app(Settings())


def bare() -> FastAPI:
    """The same routes and settings without any middleware: the baseline for its cost."""
    return create_app(Settings(), middleware=False)
