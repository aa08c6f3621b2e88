"""deploy/gunicorn.conf.py: settings drive it, gunicorn accepts it, and a real gunicorn with
uvicorn workers serves orderly, believes forwarded headers only from the configured
proxies, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import ORDERLY, Process, clean_env, free_port

CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).with_name("gunicorn")


def test_settings_drive_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [key for key in os.environ if key.startswith("ORDERLY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORDERLY_SHUTDOWN_TIMEOUT", "17")
    monkeypatch.setenv("ORDERLY_FORWARDED_ALLOW_IPS", '["10.0.0.0/8", "192.0.2.7"]')
    monkeypatch.setenv("ORDERLY_METRICS_ENABLED", "false")
    monkeypatch.setenv("ORDERLY_HOST", "::")
    conf = runpy.run_path(str(CONF))
    assert conf["graceful_timeout"] == 17
    assert conf["workers"] == os.cpu_count()
    assert conf["forwarded_allow_ips"] == "10.0.0.0/8,192.0.2.7"
    assert conf["bind"] == ["[::]:8000"]
    assert conf["worker_class"] == "uvicorn_worker.UvicornWorker"
    monkeypatch.setenv("ORDERLY_WORKERS", "3")
    assert runpy.run_path(str(CONF))["workers"] == 3


def test_gunicorn_accepts_the_config(tmp_path: Path) -> None:
    checked = subprocess.run(  # noqa: S603 - our own tool and file
        [str(GUNICORN), "--check-config", "-c", str(CONF)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def _gunicorn(workdir: Path, database: str, trusted: str) -> Process:
    port = free_port()
    env = clean_env(
        ORDERLY_DATABASE_URL=database,
        ORDERLY_PORT=str(port),
        ORDERLY_WORKERS="2",
        ORDERLY_FORWARDED_ALLOW_IPS=trusted,
        ORDERLY_SHUTDOWN_TIMEOUT="5",
    )
    server = Process(
        [str(GUNICORN), "-c", str(CONF)],
        workdir=workdir,
        env=env,
        port=port,
        ready_path="/health/ready",
    )
    server.wait_ready()
    return server


def _metrics_status(server: Process, forwarded_for: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    return httpx.get(f"{server.base}/metrics", headers=headers, timeout=10).status_code


def test_gunicorn_serves_and_trusts_only_configured_proxies(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'orderly.db'}"
    subprocess.run(  # noqa: S603 - our own entry point
        [str(ORDERLY), "migrate"],
        cwd=tmp_path,
        env=clean_env(ORDERLY_DATABASE_URL=database),
        check=True,
        capture_output=True,
        timeout=120,
    )
    # /metrics answers loopback clients only: a forwarded address from a trusted proxy
    # becomes the client, from anyone else it is ignored.
    trusting = _gunicorn(tmp_path, database, '["127.0.0.1"]')
    try:
        assert _metrics_status(trusting, "127.0.0.1") == 200
        assert _metrics_status(trusting, "203.0.113.9") == 404
        items = httpx.get(f"{trusting.base}/api/v1/items", timeout=10)
        assert items.status_code == 200
    finally:
        trusting.process.send_signal(signal.SIGTERM)
        assert trusting.process.wait(timeout=15) == 0
    log = trusting.log.read_text()
    assert log.count("Booting worker") == 2
    assert "Application shutdown complete" in log

    distrusting = _gunicorn(tmp_path, database, '["192.0.2.1"]')
    try:
        assert _metrics_status(distrusting, "203.0.113.9") == 200
    finally:
        distrusting.stop()
