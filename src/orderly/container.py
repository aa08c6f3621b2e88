"""The composition root: builds engine, security and services from settings.

The API (lifespan), the CLI and the tests each build one ``Container`` and close it when done;
nothing here runs at import time.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orderly.api import links
from orderly.core.config import Settings
from orderly.core.crypto import SecretBox
from orderly.core.database import (
    SessionFactories,
    connection_gate,
    create_engine,
    create_session_factories,
)
from orderly.core.ratelimit import RateLimiter
from orderly.core.security import PasswordHasher, TokenCodec
from orderly.events import live_redis
from orderly.events.catalog_version import CatalogVersion
from orderly.events.handlers import EventDispatcher, StartReport
from orderly.events.live import LiveChange, LiveHub
from orderly.fakes.payment_provider import create_provider_app
from orderly.integrations.breaker import CircuitBreaker
from orderly.integrations.email import Mailer
from orderly.integrations.payments import PaymentProvider, RetryPolicy
from orderly.integrations.webhooks import AddressPolicy, WebhookSender
from orderly.services.account_tokens import AccountTokens
from orderly.services.audit import AuditService
from orderly.services.catalog import CatalogService
from orderly.services.live_status import LiveStatusService
from orderly.services.lockout import LockoutPolicy, Throttle
from orderly.services.orders import OrderService
from orderly.services.outbox import OutboxService
from orderly.services.outbox_operations import OutboxOperations
from orderly.services.payments import PaymentService
from orderly.services.reports import ReportService
from orderly.services.two_factor import TwoFactorService
from orderly.services.users import UserService
from orderly.services.webhook_delivery import Doorbell, RetrySchedule, Wake, WebhookDeliveries
from orderly.services.webhooks import WebhookService
from orderly.unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    shared_reads,
    sql_units_of_work,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(slots=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactories
    units_of_work: UnitOfWorkFactory
    users: UserService
    two_factor: TwoFactorService
    account_tokens: AccountTokens
    catalog: CatalogService
    orders: OrderService
    payments: PaymentService
    payment_provider: PaymentProvider
    rate_limiter: RateLimiter
    redis: Redis | None
    mailer: Mailer
    reports: ReportService
    dispatcher: EventDispatcher
    webhooks: WebhookService
    webhook_deliveries: WebhookDeliveries
    webhook_sender: WebhookSender
    # Rung when deliveries become due; the in-process runner waits on it (no broker).
    webhook_doorbell: Doorbell
    audit: AuditService
    outbox: OutboxService
    # An operator's use cases on the outbox table: the CLI's `orderly outbox`, the panel.
    outbox_operations: OutboxOperations
    # The live status streams open in this process (fed by the Redis listener, or in-process).
    live: LiveHub
    # Advanced after every committed catalog change; the API's catalog cache watches it.
    catalog_version: CatalogVersion
    live_status: LiveStatusService

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        start_report: StartReport | None = None,
        wake_webhooks: Wake | None = None,
    ) -> Container:
        """``start_report``: how a requested report gets produced; by default right here
        (the embedded runner), in a Celery worker as a chain of tasks. ``wake_webhooks``:
        how the webhook sender learns that deliveries are due; by default the in-process
        runner's doorbell, in a Celery worker a task on the webhooks queue."""
        engine = create_engine(settings)
        sessions = create_session_factories(engine, gate=connection_gate(settings))
        redis = redis_client(settings)
        catalog_version = CatalogVersion(redis=redis, prefix=settings.redis_key_prefix)
        uow = sql_units_of_work(sessions, on_catalog_change=catalog_version.advance)

        tokens = TokenCodec(
            secret_key=settings.secret_key.get_secret_value(),
            algorithm=settings.jwt_algorithm,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
        provider = build_payment_provider(settings)
        orders = OrderService(
            uow,
            max_quantity=settings.order_max_quantity,
            max_lines=settings.order_max_lines,
            require_verified_email=settings.require_email_verification,
        )
        hasher = PasswordHasher()
        box = SecretBox(settings.sealing_keys)
        users = build_user_service(settings, uow, hasher=hasher, tokens=tokens, box=box)
        account_tokens = AccountTokens(uow, hasher=hasher)
        payments = PaymentService(uow, provider=provider)
        mailer = Mailer(settings)
        public_url = settings.public_url.rstrip("/")
        reports = ReportService(
            uow,
            mailer=mailer,
            download_url=lambda report_id: public_url + links.report_download(report_id),
        )

        async def produce_here(report_id: uuid.UUID) -> None:
            await reports.produce(report_id=report_id)

        doorbell = Doorbell()
        sender = build_webhook_sender(settings)
        deliveries = WebhookDeliveries(
            uow,
            sender=sender,
            schedule=RetrySchedule(
                initial=settings.webhook_retry_initial,
                factor=settings.webhook_retry_factor,
                max_delay=settings.webhook_retry_max_delay,
                max_attempts=settings.webhook_max_attempts,
            ),
            lease=timedelta(seconds=settings.webhook_lease),
            disable_after=timedelta(seconds=settings.webhook_disable_after),
            batch_size=settings.webhook_batch_size,
            wake=wake_webhooks or doorbell.ring,
        )
        webhooks = WebhookService(
            uow,
            policy=sender.policy,
            deliveries=deliveries,
            mailer=mailer,
            secret_overlap=timedelta(seconds=settings.webhook_secret_overlap),
            endpoint_url=lambda endpoint_id: public_url + links.webhook_endpoint(endpoint_id),
        )
        live = LiveHub(
            queue_size=settings.live_queue_size,
            max_per_user=settings.live_max_per_user,
            max_connections=settings.live_max_connections,
        )
        channel = live_redis.live_channel(settings.redis_key_prefix)

        async def publish_live(change: LiveChange) -> None:
            if redis is None:
                live.publish(change)  # the API and the in-process runner share this process
            else:
                await live_redis.publish(redis, channel, change)

        dispatcher = EventDispatcher(
            uow,
            publish_live=publish_live,
            payments=payments,
            mailer=mailer,
            start_report=start_report or produce_here,
            webhooks=webhooks,
            account_tokens=account_tokens,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            units_of_work=uow,
            users=users,
            two_factor=TwoFactorService(
                uow,
                second_factor=users.second_factor,
                box=box,
                admins_need_mfa=settings.admins_need_mfa,
            ),
            account_tokens=account_tokens,
            catalog=CatalogService(uow),
            orders=orders,
            payments=payments,
            payment_provider=provider,
            rate_limiter=RateLimiter(settings),
            redis=redis,
            mailer=mailer,
            reports=reports,
            dispatcher=dispatcher,
            webhooks=webhooks,
            webhook_deliveries=deliveries,
            webhook_sender=sender,
            webhook_doorbell=doorbell,
            audit=AuditService(uow),
            outbox=OutboxService(uow),
            outbox_operations=OutboxOperations(
                sessions.writer,
                recorded_handlers=dispatcher.recorded_handlers,
                max_deliveries=settings.outbox_max_deliveries,
            ),
            live=live,
            catalog_version=catalog_version,
            live_status=LiveStatusService(
                uow,
                snapshot_limit=settings.live_snapshot_limit,
                backfill_limit=settings.live_backfill_limit,
            ),
        )

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for writing (the outbox relay, the embedded runner, tests)."""
        return self.sessions.writer

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return self.units_of_work(read_only=read_only)

    def shared_reads(self) -> AbstractAsyncContextManager[None]:
        """A request that only reads: its read-only units of work share one connection."""
        return shared_reads(self.sessions)

    async def close(self) -> None:
        await self.payment_provider.aclose()
        await self.webhook_sender.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def build_user_service(
    settings: Settings,
    uow: UnitOfWorkFactory,
    *,
    hasher: PasswordHasher,
    tokens: TokenCodec,
    box: SecretBox,
) -> UserService:
    policy = LockoutPolicy(
        threshold=settings.login_lockout_threshold,
        base_delay=timedelta(seconds=settings.login_lockout_base_seconds),
        max_delay=timedelta(seconds=settings.login_lockout_max_seconds),
    )
    return UserService(
        uow,
        hasher=hasher,
        tokens=tokens,
        box=box,
        throttle=Throttle(uow, policy),
        admins_need_mfa=settings.admins_need_mfa,
    )


def redis_client(settings: Settings) -> Redis | None:
    """The Redis client when one is configured; redis-py is imported only then, so a start
    without Redis (the embedded default) does not pay for importing it."""
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(settings.redis_url)


def build_payment_provider(settings: Settings) -> PaymentProvider:
    """The provider over HTTP, or (no URL configured) the sandbox app served in-process."""
    api_key = settings.payment_api_key.get_secret_value()
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = httpx.Timeout(settings.payment_timeout, connect=settings.payment_connect_timeout)
    if settings.payment_provider_url:
        http = httpx.AsyncClient(
            base_url=settings.payment_provider_url, headers=headers, timeout=timeout
        )
    else:
        sandbox = httpx.ASGITransport(app=create_provider_app(api_key=api_key))
        http = httpx.AsyncClient(
            transport=sandbox, base_url="http://sandbox.payments", headers=headers, timeout=timeout
        )
    breaker = CircuitBreaker(
        "payments",
        failure_threshold=settings.payment_breaker_threshold,
        reset_timeout=settings.payment_breaker_reset_seconds,
    )
    retry = RetryPolicy(
        attempts=settings.payment_retry_attempts,
        initial_backoff=settings.payment_backoff_initial,
        max_backoff=settings.payment_backoff_max,
    )
    return PaymentProvider(http, breaker=breaker, retry=retry)


def build_webhook_sender(settings: Settings) -> WebhookSender:
    policy = AddressPolicy(
        require_https=settings.webhooks_need_https,
        allowed_networks=tuple(settings.webhook_private_networks),
    )
    return WebhookSender(policy=policy, timeout=settings.webhook_timeout)
