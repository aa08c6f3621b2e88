"""Where the test suite finds the machine's servers (ORDERLY_TEST_* environment variables)."""

from __future__ import annotations

import os

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERLY_TEST_", extra="ignore")

    # An existing database on the server; each run creates and drops its own next to it.
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # RabbitMQ: each run makes its own vhost with rabbitmqctl, on this server
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672"
    connect_timeout: float = 3.0


def services_required() -> bool:
    """With CI=true an unreachable service fails the run instead of skipping its tests."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
