"""The Celery application, built from settings (``create_celery``), never at import time.

Deliberate choices, after Celery's documented edges:
- JSON only; ``acks_late`` with ``task_reject_on_worker_lost``, so a task whose worker child
  dies is redelivered instead of acknowledged; prefetch 1, so a long task holds no others.
- Redis returns an unacknowledged task only after ``visibility_timeout``: it is set from
  settings, and every time limit and retry countdown is kept below it (checked here).
- RabbitMQ's ``consumer_timeout`` (30 min by default) bounds how long a task may hold a
  message; the hard time limit (150 s by default) stays far below it.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

from orderly.core.config import Settings

QUEUES = ("default", "payments", "emails", "reports", "webhooks")


def create_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("ORDERLY_BROKER_URL is not set: there is no broker to connect to")
    limit = settings.broker_visibility_timeout
    if settings.task_time_limit >= limit or settings.task_retry_backoff_max >= limit:
        raise ValueError(
            "ORDERLY_TASK_TIME_LIMIT and ORDERLY_TASK_RETRY_BACKOFF_MAX must stay below "
            "ORDERLY_BROKER_VISIBILITY_TIMEOUT, or Redis redelivers tasks still running"
        )
    transport: dict[str, object] = {"visibility_timeout": limit}
    if settings.broker_url.startswith("redis"):
        transport["global_keyprefix"] = f"{settings.redis_key_prefix}:celery:"
        # kombu's restore mutex is released with an unprefixed GET, so under a key prefix it
        # is never released and lives until it expires (300 s by default), holding back the
        # redelivery of tasks whose worker died. Let it expire well within the timeout.
        transport["unacked_mutex_expire"] = max(5, min(30, limit // 2))
        # Look for expired unacknowledged tasks every ~1/12 of the timeout, on every tick.
        transport["unacked_restore_interval"] = max(1, min(60, limit // 12))
        transport["unacked_restore_throttle"] = 1
    app = Celery("orderly", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        task_ignore_result=True,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_default_queue="default",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes={
            "orderly.report.*": {"queue": "reports"},
            "orderly.webhooks.*": {"queue": "webhooks"},
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "expire-unpaid-orders": {
                "task": "orderly.expire_orders",
                "schedule": settings.order_expiry_interval,
            },
            "sweep-outbox": {"task": "orderly.sweep_outbox", "schedule": 30.0},
            # Retries are due by the database's clock, not the broker's: beat looks for due
            # deliveries; a pass nobody took before the next one is dropped, not piled up.
            "send-due-webhooks": {
                "task": "orderly.webhooks.send_due",
                "schedule": settings.webhook_poll_interval,
                "options": {"expires": settings.webhook_poll_interval},
            },
            "daily-sales-report": {
                "task": "orderly.daily_sales_report",
                "schedule": crontab(hour=6, minute=0),
            },
        },
    )
    return app
