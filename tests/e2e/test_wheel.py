"""The wheel is enough to run orderly: built from this checkout, installed into a new virtual
environment outside it, ``orderly migrate`` creates every table in an empty PostgreSQL database."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from orderly.models import Base
from tests.databases import create_postgres_database, drop_postgres_database, query
from tests.processes import clean_env
from tests.services import ServiceSettings

pytestmark = pytest.mark.postgres
CHECKOUT = Path(__file__).resolve().parents[2]


def _uv() -> str:
    bundled = CHECKOUT / ".tools" / "bin" / "uv"  # installed by `make install`
    found = str(bundled) if bundled.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build the wheel: run `make install`")
    return found


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _tables(url: str) -> set[str]:
    rows = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


def test_the_installed_wheel_migrates_an_empty_database(tmp_path: Path) -> None:
    uv = _uv()
    dist = tmp_path / "dist"
    _run(uv, "build", "--wheel", "--out-dir", str(dist), cwd=CHECKOUT)
    [wheel] = dist.glob("orderly-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "orderly/migrations/env.py" in names
    assert any(name.startswith("orderly/migrations/versions/0001_") for name in names)

    # The locked versions, installed from uv's cache (or the index) beside the wheel.
    requirements = tmp_path / "requirements.txt"
    _run(
        uv,
        "export",
        "--frozen",
        "--no-dev",
        "--no-hashes",
        "--no-emit-project",
        "--quiet",
        "--output-file",
        str(requirements),
        cwd=CHECKOUT,
    )
    venv = tmp_path / "venv"
    _run(uv, "venv", "--quiet", "--python", "python3", str(venv), cwd=tmp_path)
    python = str(venv / "bin" / "python")
    _run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "-r",
        str(requirements),
        str(wheel),
        cwd=tmp_path,
    )

    services = ServiceSettings()
    url = create_postgres_database(services)
    try:
        # run from outside the checkout, with nothing of it on the path
        env = clean_env(ORDERLY_DATABASE_URL=url, ORDERLY_ENVIRONMENT="test")
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        output = _run(str(venv / "bin" / "orderly"), "migrate", cwd=tmp_path, env=env)
        assert "head" in output
        located = _run(
            python,
            "-c",
            "from orderly.migrate import script_location; print(script_location())",
            cwd=tmp_path,
            env=env,
        )
        assert Path(located.strip()).is_relative_to(venv)
        assert _tables(url) == {*Base.metadata.tables, "alembic_version"}
    finally:
        drop_postgres_database(services, url)
