"""Apply Alembic migrations programmatically (CLI, `orderly serve` in development, tests).

The revisions live in ``migrations/`` at the top of the checkout; the wheel carries the same
directory inside the package (``orderly/migrations``, see pyproject's hatch build), so an
installed ``orderly migrate`` finds them with no checkout around.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parents[1]


def script_location() -> Path:
    """The migrations directory: inside the installed package, else the checkout's."""
    for candidate in (PACKAGE_DIR / "migrations", CHECKOUT_DIR / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError(f"no Alembic migrations in {PACKAGE_DIR} or {CHECKOUT_DIR}")


def alembic_config(database_url: str) -> Config:
    # No ini file: the logging set-up stays orderly's, and the URL comes from settings.
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``; must not be called from inside a running loop."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
