"""`orderly serve` as a new user runs it: a real process, a fresh SQLite file, demo data."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import ORDERLY, Process, clean_env, free_port

START_TIMEOUT = 60.0


class Server(Process):
    def __init__(self, workdir: Path, port: int) -> None:
        env = clean_env(ORDERLY_PORT=str(port), ORDERLY_ADMIN_EMAIL="boss@example.com")
        super().__init__(
            [str(ORDERLY), "serve"], workdir=workdir, env=env, port=port, ready_path="/health/ready"
        )


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    # alembic.ini and migrations/ are found from the package, so any directory works
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_fresh_start_migrates_seeds_and_serves(workdir: Path) -> None:
    server = Server(workdir, free_port())
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.base, timeout=10) as http:
            assert "swagger-ui" in http.get("/docs").text
            traced = http.get("/api/v1/items", headers={"X-Request-ID": "abc123"})
            assert traced.headers["x-request-id"] == "abc123"
            assert http.get("/redoc").status_code == 200
            items = http.get("/api/v1/items", params={"limit": 100}).json()
            assert len(items["items"]) >= 50
            assert items["total"] >= 50

            creds = {"email": "new@example.com", "password": "a-good-passphrase"}
            registered = http.post("/api/v1/auth/register", json={**creds, "full_name": "New"})
            assert registered.status_code == 201
            token = http.post(
                "/api/v1/auth/token",
                data={"username": creds["email"], "password": creds["password"]},
            ).json()["access_token"]
            me = http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["email"] == "new@example.com"
            for response in (registered, me):
                assert "password" not in response.text
                assert "$argon2" not in response.text
    finally:
        server.stop()
    first_log = server.log.read_text()
    access = [line for line in first_log.splitlines() if "abc123" in line]
    assert access, first_log
    assert "route=/api/v1/items" in access[0]  # not a TTY: plain text, no colour codes
    assert "admin password (shown once)" in first_log
    assert "boss@example.com" in first_log
    assert (workdir / "orderly.db").exists()

    # A restart finds data and neither seeds again nor prints the password again.
    server.log.write_text("")
    again = Server(workdir, free_port())
    try:
        again.wait_ready()
        total = httpx.get(f"{again.base}/api/v1/items", timeout=10).json()["total"]
        assert total == items["total"]
    finally:
        again.stop()
    assert "shown once" not in again.log.read_text()


def run_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own entry point
        [str(ORDERLY), *args],
        cwd=workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_admin_command(workdir: Path) -> None:
    migrated = run_cli(workdir, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    args = ("create-admin", "--email", "Root@Example.com", "--full-name", "Root")
    created = run_cli(workdir, *args, "--password", "a-long-passphrase-1")
    assert created.returncode == 0, created.stderr
    again = run_cli(workdir, *args, "--password", "a-long-passphrase-1")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    weak = run_cli(workdir, "create-admin", "--email", "x@example.com", "--password", "x")
    assert weak.returncode == 1
    assert "password" in weak.stderr
