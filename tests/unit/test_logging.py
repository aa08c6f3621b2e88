"""What configure_logging writes: one JSON object a line, the same fields for orderly's lines
(structlog) and other libraries' (stdlib logging), the request context, secrets redacted."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from orderly.core.config import Settings
from orderly.core.logging import REDACTED, access_logger, configure_logging


@pytest.fixture
def stderr() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch, stderr: io.StringIO) -> Iterator[Any]:
    """configure_logging writing to ``stderr``; the root logger as it was after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(Settings(secret_key="s" * 40, log_json=True, log_level="DEBUG"))

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stderr.getvalue().splitlines()]

    try:
        yield read
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.contextvars.clear_contextvars()


def test_structlog_and_stdlib_lines_have_the_same_shape(json_lines: Any) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1")
    structlog.get_logger("orderly.test").info("paid", order="o-1", password="hunter2")
    logging.getLogger("thirdparty").warning("retry %s of %d", "connect", 3)
    ours, theirs = json_lines()
    assert ours.pop("timestamp").endswith("Z")
    assert theirs.pop("timestamp").endswith("Z")
    assert ours == {
        "event": "paid",
        "order": "o-1",
        "password": REDACTED,
        "request_id": "r-1",
        "level": "info",
        "logger": "orderly.test",
    }
    assert theirs == {
        "event": "retry connect of 3",
        "request_id": "r-1",
        "level": "warning",
        "logger": "thirdparty",
    }


def test_exceptions_are_rendered_into_the_line(json_lines: Any) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("orderly.test").exception("failed")
        logging.getLogger("thirdparty").exception("failed too")
    ours, theirs = json_lines()
    for line in (ours, theirs):
        assert line["level"] == "error"
        assert "ValueError: boom" in line["exception"]


def test_level_filters_both(json_lines: Any) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    structlog.get_logger("orderly.test").info("hidden")
    logging.getLogger("thirdparty").info("hidden too")
    structlog.get_logger("orderly.test").warning("shown")
    assert [line["event"] for line in json_lines()] == ["shown"]


def access_log(level: str, stderr: io.StringIO) -> structlog.typing.FilteringBoundLogger:
    """The access logger as the app builds it, writing to ``stderr``: while a test's body
    runs, pytest has put its own capture back as sys.stderr over the fixture's."""
    with contextlib.redirect_stderr(stderr):
        return access_logger(Settings(secret_key="s" * 40, log_json=True, log_level=level))


def test_the_access_log_writes_lines_of_the_same_shape(
    json_lines: Any, stderr: io.StringIO
) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-2", token="t")
    access_log("DEBUG", stderr).info("request", method="GET", status=200)
    logging.getLogger("thirdparty").info("beside it")
    line, theirs = json_lines()
    assert line.pop("timestamp").endswith("Z")
    assert line == {
        "event": "request",
        "method": "GET",
        "status": 200,
        "request_id": "r-2",
        "token": REDACTED,
        "level": "info",
        "logger": "orderly.access",
    }
    assert set(line) | {"timestamp"} == set(theirs) | {"method", "status", "token"}


def test_the_access_log_has_the_configured_level(json_lines: Any, stderr: io.StringIO) -> None:
    quiet = access_log("WARNING", stderr)
    quiet.info("request", status=200)
    quiet.warning("request", status=200)
    assert [line["level"] for line in json_lines()] == ["warning"]
