"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from orderly.container import Container
from tests.conftest import settings_for
from tests.databases import migrated_postgres, unavailable
from tests.services import ServiceSettings


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this module's own, dropped afterwards."""
    yield from migrated_postgres(ServiceSettings())


@pytest.fixture
async def postgres_container(postgres_url: str) -> AsyncIterator[Container]:
    """Services on this module's database, to set up accounts and items and to check the
    database directly while the processes under test use it."""
    settings = settings_for(postgres_url)
    built = Container.build(settings)
    yield built
    await built.close()


@pytest.fixture
def redis_broker() -> Iterator[dict[str, str]]:
    """The Redis server under a key prefix of this test's own, removed afterwards."""
    yield from redis_under_own_prefix()


def redis_under_own_prefix() -> Iterator[dict[str, str]]:
    """Broker settings for the Redis server under a fresh key prefix; the prefix's keys are
    removed when the generator ends (a fixture of any scope yields from it)."""
    services = ServiceSettings()
    client = redis.Redis.from_url(services.redis_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {services.redis_url}", error)
    prefix = f"orderly-test-{uuid.uuid4().hex[:10]}"
    yield {"ORDERLY_BROKER_URL": services.redis_url, "ORDERLY_REDIS_KEY_PREFIX": prefix}
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def rabbitmq_ctl_path() -> str:
    return shutil.which("rabbitmqctl") or "rabbitmqctl"


def rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(  # noqa: S603 - fixed arguments of our own
        [rabbitmq_ctl_path(), *args], check=check, capture_output=True, timeout=60
    )


@pytest.fixture
def rabbitmq_broker() -> Iterator[dict[str, str]]:
    """A vhost of this test's own on the RabbitMQ server, deleted afterwards."""
    services = ServiceSettings()
    vhost = f"orderly_test_{uuid.uuid4().hex[:8]}"
    try:
        for args in (
            ["add_vhost", vhost],
            ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        ):
            rabbitmqctl(*args)
    except (OSError, subprocess.SubprocessError) as error:
        unavailable("RabbitMQ (rabbitmqctl)", error)
    yield {"ORDERLY_BROKER_URL": f"{services.amqp_url}/{vhost}"}
    rabbitmqctl("delete_vhost", vhost, check=False)
