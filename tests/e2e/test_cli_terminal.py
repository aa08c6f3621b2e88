"""The real ``orderly`` command: under a pseudo-terminal ``seed`` draws its progress bar; on
PostgreSQL 100,000 items are seeded in well under a minute."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.databases import create_sqlite_database, migrate_to_head
from tests.processes import ORDERLY, clean_env


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        ORDERLY_DATABASE_URL=database_url,
        ORDERLY_SECRET_KEY=TEST_SECRET,
        ORDERLY_MAIL_DIR=str(tmp_path / "mail"),
        TERM="xterm-256color",
        COLUMNS="100",
    )


def test_seed_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    url = create_sqlite_database(tmp_path)
    migrate_to_head(url)
    env = {k: v for k, v in _env(url, tmp_path).items() if k not in {"CI", "TTY_INTERACTIVE"}}
    main, terminal = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [str(ORDERLY), "seed", "--items", "3000"],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=tmp_path,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the terminal closed: the command ended
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        os.close(main)
    text = seen.decode(errors="replace")
    assert process.returncode == 0, text
    assert "3,000" in text  # the summary table
    assert "3000/3000" in text  # the bar's last drawing: done of total
    assert "\x1b[" in text  # drawn with terminal codes (cursor moves, colours)


@pytest.mark.postgres
@pytest.mark.slow
def test_seed_of_100k_items_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own entry point
        [str(ORDERLY), "seed", "--items", "100000", "--json"],
        env=_env(postgres_url, tmp_path), cwd=tmp_path, capture_output=True, timeout=120,
        check=True,
    )  # fmt: skip
    seconds = time.monotonic() - started
    result = json.loads(done.stdout)
    assert result["items"] == 100_000
    assert done.stderr == b""  # no progress without a terminal
    assert seconds < 60, f"100,000 items took {seconds:.1f} s"
