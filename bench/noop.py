"""The baseline of scenario 5: a Celery app, configured as orderly's, with one task that does
nothing but count itself in Redis (``celery --workdir bench -A noop worker``)."""

from __future__ import annotations

import os

import redis

from orderly.core.config import Settings
from orderly.jobs.celery_app import create_celery

settings = Settings()
app = create_celery(settings)
counter = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
COUNTER_KEY = os.environ["BENCH_COUNTER_KEY"]


@app.task(name="bench.noop")
def noop() -> None:
    counter.incr(COUNTER_KEY)
