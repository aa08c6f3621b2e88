"""The peer users would pick instead of orderly: full-stack-fastapi-template's backend
(FastAPI + SQLModel + psycopg), served beside scenario 1 by ``bench/run.py`` when
``BENCH_PEER_DIR`` names a checkout of it.

Its own environment runs it (``$BENCH_PEER_DIR/backend/.venv``, made by ``uv sync``, or the
python in ``BENCH_PEER_PYTHON``) on a database of its own on the benchmark's PostgreSQL
server: its migrations and initial data (the superuser), then ``fastapi run`` with one
worker; ~1,000 items are created through its API and wrk reads its first page of 20 with
the superuser's bearer token, with scenario 1's connections and duration.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from harness import Result, Server, free_port, run_wrk
from seed import ITEMS, create_database, drop_database, dsn_of

REPO = "https://github.com/fastapi/full-stack-fastapi-template"
NAME = "full-stack-fastapi-template"
PAGE = "/api/v1/items/?limit=20"
HINT = (
    f"peer ({NAME}): not run. To run it: git clone {REPO} /tmp/peer && "
    "cd /tmp/peer/backend && uv sync (Python >= 3.14; uv fetches it), "
    "then BENCH_PEER_DIR=/tmp/peer make bench (or BENCH_PEER_PYTHON=<a python with its "
    "dependencies>)"
)
SUPERUSER = "admin@example.com"


def configured() -> Path | None:
    """The checkout named by ``BENCH_PEER_DIR``, or None when the peer is not to be run."""
    given = os.environ.get("BENCH_PEER_DIR")
    if not given:
        return None
    checkout = Path(given).expanduser().resolve()
    if not (checkout / "backend" / "app" / "main.py").is_file():
        raise SystemExit(f"BENCH_PEER_DIR={given}: no backend/app/main.py ({NAME} checkout?)")
    return checkout


def python_of(checkout: Path) -> Path:
    given = os.environ.get("BENCH_PEER_PYTHON")
    python = Path(given) if given else checkout / "backend" / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(
            f"{python} is missing: run `cd {checkout / 'backend'} && uv sync` "
            "or set BENCH_PEER_PYTHON"
        )
    return python


def peer_env(backend: Path, python: Path, database_url: str) -> dict[str, str]:
    """Its settings (app/core/config.py); variables win over the checkout's ``.env``."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "PROJECT_NAME": "peer-bench",
        "DATABASE_URL": dsn_of(database_url),
        "FIRST_SUPERUSER": SUPERUSER,
        "FIRST_SUPERUSER_PASSWORD": secrets.token_urlsafe(16),
        # A checkout has no built frontend in app/frontend, which app.frontend() refuses
        # outside development; development changes nothing else on the API's path.
        "FASTAPI_ENV": "development",
        "PYTHONPATH": str(backend),
        "VIRTUAL_ENV": str(python.parent.parent),
    }


def prepare(backend: Path, python: Path, env: dict[str, str], log: Path) -> str:
    """Migrations and initial data as its scripts/prestart.sh runs them; its Python version."""
    full = {**os.environ, **env}
    for step in (["-m", "alembic", "upgrade", "head"], ["-m", "app.initial_data"]):
        with log.open("ab") as out:
            done = subprocess.run(
                [str(python), *step],
                cwd=backend,
                env=full,
                stdout=out,
                stderr=out,
                timeout=180,
                check=False,
            )
        if done.returncode != 0:
            raise SystemExit(f"peer: {' '.join(step)} failed:\n{log.read_text()[-3000:]}")
    return subprocess.run(
        [str(python), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def sign_in_and_fill(base: str, password: str) -> str:
    """The superuser's bearer token, after creating the items through the API."""
    with httpx.Client(base_url=base, timeout=10) as client:
        answer = client.post(
            "/api/v1/login/access-token", data={"username": SUPERUSER, "password": password}
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        for n in range(ITEMS):
            client.post(
                "/api/v1/items/", json={"title": f"Bench item {n:05d}", "description": ""}
            ).raise_for_status()
        page = client.get(PAGE)
        page.raise_for_status()
        if len(page.json()["data"]) != 20 or page.json()["count"] != ITEMS:
            raise SystemExit(f"peer's page is not 20 of {ITEMS} items: {page.text[:300]}")
    return token


def run(
    checkout: Path, server_url: str, folder: Path, *, seconds: int, warmup: int
) -> tuple[Result, str]:
    """The peer's items page under scenario 1's load, and the Python that served it."""
    backend = checkout / "backend"
    python = python_of(checkout)
    database = asyncio.run(create_database(server_url, prefix="peer_bench"))
    server: Server | None = None
    try:
        env = peer_env(backend, python, database)
        version = prepare(backend, python, env, folder / "peer.log")
        port = free_port()
        args = [str(python), "-m", "fastapi", "run", "--host", "127.0.0.1"]
        args += ["--port", str(port), "--workers", "1"]
        server = Server(args, env=env, port=port, log=folder / "peer.log", cwd=backend)
        server.wait_ready("/api/v1/utils/health-check/")
        token = sign_in_and_fill(server.base, env["FIRST_SUPERUSER_PASSWORD"])
        lua = folder / "peer.lua"
        lua.write_text(
            f'wrk.headers["Authorization"] = "Bearer {token}"\n'
            + (folder / "plain.lua").read_text()
        )
        run_wrk("warm-up", server.base + PAGE, seconds=warmup, script=lua)
        result = run_wrk(
            f"peer (template) GET {PAGE}", server.base + PAGE, seconds=seconds, script=lua
        )
        return result, version
    finally:
        if server is not None:
            server.stop()
        asyncio.run(drop_database(server_url, database))


def summary(results: dict[str, Result], python: str) -> dict[str, Any]:
    """orderly's scenario 1 (cache off and warm) against the peer: req/s and p99 ratios."""
    peer = results["peer"]
    found: dict[str, Any] = {"python": python, "items": ITEMS, "run": asdict(peer)}
    for key, label in (("s1", "cache off"), ("s1c", "cache warm")):
        if key in results:
            ours = results[key]
            found[key] = {
                "rps_ratio": round(ours.rps / peer.rps, 3),
                "p99_ratio": round(ours.p99_ms / peer.p99_ms, 3),
            }
            print(
                f"  against {NAME} (Python {python}), {label}: req/s {ours.rps:.0f} vs "
                f"{peer.rps:.0f} ({ours.rps / peer.rps:.2f}x), p99 {ours.p99_ms:.1f} vs "
                f"{peer.p99_ms:.1f} ms ({ours.p99_ms / peer.p99_ms:.2f}x)",
                flush=True,
            )
    return found
