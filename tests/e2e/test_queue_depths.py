"""Queue depth per queue, read the same way from Redis and RabbitMQ: tasks sent and not yet
taken by any worker are counted in their queue; a queue nobody declared holds none."""

from __future__ import annotations

import pytest
from celery import Celery

from orderly.core.config import Environment, Settings
from orderly.jobs.backlog import queue_depths
from orderly.jobs.celery_app import QUEUES, create_celery
from tests.conftest import TEST_SECRET


def celery_on(broker: dict[str, str]) -> Celery:
    settings = Settings(
        _env_file=None,
        environment=Environment.TEST,
        secret_key=TEST_SECRET,
        broker_url=broker["ORDERLY_BROKER_URL"],
        redis_key_prefix=broker.get("ORDERLY_REDIS_KEY_PREFIX", "orderly"),
    )
    return create_celery(settings)


@pytest.mark.parametrize("broker_fixture", ["redis_broker", "rabbitmq_broker"])
def test_queue_depths_count_the_tasks_waiting_in_each_queue(
    request: pytest.FixtureRequest, broker_fixture: str
) -> None:
    celery = celery_on(request.getfixturevalue(broker_fixture))
    assert queue_depths(celery) == dict.fromkeys(QUEUES, 0)
    for _ in range(3):
        celery.send_task("orderly.handle_event", args=["X", {}], queue="payments")
    celery.send_task("orderly.handle_event", args=["X", {}], queue="emails")
    assert queue_depths(celery) == {**dict.fromkeys(QUEUES, 0), "payments": 3, "emails": 1}
