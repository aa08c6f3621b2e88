"""structlog set-up: JSON lines in production, a readable console in development.

The stdlib loggers (uvicorn, SQLAlchemy, Celery, ...) go through the same processors, so
every line has the same shape and carries the request or task context bound in contextvars.
Values under sensitive keys are replaced before anything is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any

import structlog

from orderly.core.config import Settings

_SENSITIVE = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|hash|api[_-]?key|dsn", re.IGNORECASE
)
REDACTED = "[redacted]"
ACCESS_LOGGER = "orderly.access"  # the access line's logger name (access_logger)


@lru_cache(maxsize=1024)
def _is_sensitive(key: str) -> bool:
    return key != "event" and _SENSITIVE.search(key) is not None


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop the value of any field whose name looks secret (password, token, hash, ...)."""
    for key in list(event):
        if _is_sensitive(key):
            event[key] = REDACTED
    return event


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """``ProcessorFormatter`` without its copy of every record: a line logged through
    structlog (its event dict in ``record.msg``, already through the shared processors) is
    rendered from a copy of that dict; other libraries' lines take the usual way."""

    def __init__(self, renderer: structlog.types.Processor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.renderer = renderer

    def format(self, record: logging.LogRecord) -> str:
        name = record.__dict__.get("_name")
        if name is None or not isinstance(record.msg, dict):
            return super().format(record)
        return str(self.renderer(record.__dict__["_logger"], name, record.msg.copy()))


def _renderer(settings: Settings) -> structlog.types.Processor:
    if settings.logs_as_json:
        return structlog.processors.JSONRenderer()
    # plain tracebacks: rich ones print local variables, which may hold secrets
    return structlog.dev.ConsoleRenderer(
        colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(settings: Settings) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer = _renderer(settings)
    if settings.logs_as_json:
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _Formatter(
            renderer,
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    # What a record would collect and no line shows: the caller's file and line (a stack
    # walk per record), thread and process names (the logging HOWTO's optimisation).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Driver debug lines carry bound parameters (password hashes, tokens): never below INFO.
    for name in ("aiosqlite", "asyncpg"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    # orderly writes its own access line (with route template, user and request id)
    logging.getLogger("uvicorn.access").disabled = True


def access_logger(settings: Settings) -> structlog.typing.FilteringBoundLogger:
    """The access log: one line per request (``RequestContextMiddleware``), the one log call
    every request makes, a catalog cache hit included. It has a pipeline of its own, straight
    to stderr through the same renderer with the same fields as ``configure_logging``'s
    lines (timestamp, level, logger, request context), because stdlib logging's record,
    handler and formatter cost more than the rest of a cache hit's middleware. Filtered by the
    same level; each line is written and flushed whole, as the handler's are."""
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
        _renderer(settings),
    ]
    logger: structlog.typing.FilteringBoundLogger = structlog.wrap_logger(
        structlog.WriteLogger(sys.stderr),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(settings.log_level),
    )
    return logger.bind(logger=ACCESS_LOGGER)
