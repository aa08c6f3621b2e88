"""Settings: the only place that reads the environment (prefix ``ORDERLY_``, ``.env`` supported).

Where a value comes from, first match wins: arguments given to ``Settings(...)``, environment
variables, the ``.env`` file, a file named after the variable in ``ORDERLY_SECRETS_DIR`` (a
Kubernetes Secret volume, Docker secrets in ``/run/secrets``), the default. Secrets are
``SecretStr`` (shown as ``**********``); settings that may hold credentials in a URL are
left out of ``repr(settings)``.
"""

from __future__ import annotations

import os
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from orderly.core.crypto import derived_key, parse_keys

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789"  # noqa: S105


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


# The names both stdlib logging and structlog's filtering loggers know, in any case.
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]


def _loopback() -> list[IPv4Network | IPv6Network]:
    return [IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]


def secret_settings() -> list[str]:
    """The variables that hold secrets: every ``SecretStr`` setting, and the URLs that may
    carry a password (kept out of ``repr``). Deploy files deliver these as files."""
    names = []
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if not field.repr or kind is SecretStr or SecretStr in get_args(kind):
            names.append(f"ORDERLY_{name.upper()}")
    return names


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERLY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,  # an invalid setting is named, its value (maybe a secret) not
    )

    environment: Environment = Environment.DEVELOPMENT
    secrets_dir: str | None = Field(
        default=None,
        description="directory of files named after settings (ORDERLY_SECRET_KEY, ...); "
        "read from the environment only",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int | None = Field(
        default=None, ge=1, description="API processes; unset: 1 (orderly serve), CPUs (gunicorn)"
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="proxies whose X-Forwarded-For/-Proto are believed (addresses or networks)",
    )

    database_url: str = Field(default="sqlite+aiosqlite:///./orderly.db", repr=False)
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=10.0, gt=0)
    database_pool_recycle: int = Field(default=1800, ge=-1)
    # Off: on asyncpg a pre-ping is three round trips (BEGIN, ping, ROLLBACK) on every checkout.
    # A connection the server dropped fails its request with 503 and invalidates the pool.
    database_pool_pre_ping: bool = False
    database_echo: bool = False
    auto_migrate: bool | None = Field(
        default=None, description="Apply migrations on `orderly serve`; default: on in development"
    )

    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    data_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys sealing the TOTP seeds, comma-separated, newest first; "
        "default: derived from the secret key (development)",
    )
    jwt_algorithm: str = "HS256"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    require_email_verification: bool = Field(
        default=False, description="a customer must verify their e-mail before a first order"
    )
    admin_require_mfa: bool | None = Field(
        default=None, description="administrators must use two-factor; default: in production"
    )
    login_lockout_threshold: int = Field(
        default=5, ge=1, description="failed sign-ins of one account before delays start"
    )
    login_lockout_base_seconds: float = Field(default=30.0, gt=0, description="first delay")
    login_lockout_max_seconds: float = Field(
        default=900.0, gt=0, description="the delay doubles per failure up to this"
    )

    admin_email: str = "admin@example.com"
    admin_password: SecretStr | None = None
    seed_demo_data: bool | None = Field(
        default=None, description="Load demo data into an empty database on `orderly serve`"
    )

    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger bodies get 413")
    shutdown_timeout: float = Field(default=20.0, ge=0, description="graceful drain, seconds")
    log_json: bool | None = Field(default=None, description="default: JSON in production only")
    log_level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR, CRITICAL")

    redis_url: str | None = Field(
        default=None, repr=False, description="rate limits shared across processes"
    )
    redis_key_prefix: str = "orderly"
    rate_limit_enabled: bool = True
    rate_limit_login: str = "5/minute"
    rate_limit_register: str = "5/minute"
    rate_limit_writes: str = "120/minute"
    rate_limit_account: str = Field(
        default="5/minute", description="password reset, e-mail verification, two-factor"
    )

    metrics_enabled: bool = True
    metrics_allow: list[IPvAnyNetwork] = Field(
        default_factory=_loopback,
        description="client networks that may read /metrics",
    )
    prometheus_multiproc_dir: str | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )

    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "orderly"

    api_v1_deprecation: str | None = Field(
        default=None, description="value of the Deprecation header on /api/v1 (e.g. @1798761600)"
    )
    api_v1_sunset: str | None = Field(default=None, description="HTTP date for the Sunset header")
    docs_enabled: bool | None = Field(
        default=None,
        description="serve /docs, /redoc and /openapi.json; default: not in production",
    )

    order_payment_timeout: int = Field(
        default=1800, ge=1, description="seconds before an unpaid order expires"
    )
    order_expiry_interval: float = Field(
        default=60.0, gt=0, description="seconds between looks for unpaid orders to expire"
    )

    broker_url: str | None = Field(
        default=None, repr=False, description="redis:// or amqp://; unset: the in-process runner"
    )
    broker_visibility_timeout: int = Field(
        default=3600, ge=10, description="Redis: seconds before an unacknowledged task returns"
    )
    task_soft_time_limit: int = Field(default=120, ge=1)
    task_time_limit: int = Field(default=150, ge=1)
    task_max_retries: int = Field(default=8, ge=0)
    task_retry_backoff_max: int = Field(default=300, ge=1)
    embedded_jobs: bool = Field(
        default=True, description="with no broker, run the job handlers inside the API process"
    )
    relay_interval: float = Field(default=0.5, gt=0, description="seconds between outbox polls")
    relay_batch_size: int = Field(default=100, ge=1)
    relay_claim_lease: float = Field(
        default=30,
        ge=1,
        description="seconds a relay publishing to the broker holds the events it claimed; "
        "those of a relay that died go to another one after this",
    )
    outbox_ack_timeout: float = Field(
        default=600,
        ge=1,
        description="seconds an event handed to the broker may wait for a worker to handle it; "
        "then the hand-over counts as lost (e.g. a broker restarted without persistence) and "
        "the relay hands it over again",
    )
    outbox_max_deliveries: int = Field(
        default=5,
        ge=1,
        description="hand-overs of an event never handled before the relay leaves it to an "
        "operator (`orderly outbox status` counts it abandoned; `replay` sends it again)",
    )

    live_heartbeat: float = Field(default=15.0, gt=0, description="seconds between SSE/WS pings")
    live_retry_ms: int = Field(default=3000, ge=0, description="SSE reconnect delay hint")
    live_queue_size: int = Field(
        default=64, ge=1, description="changes buffered per client; a slower one is disconnected"
    )
    live_max_per_user: int = Field(default=5, ge=1, description="open streams per user")
    live_max_connections: int = Field(default=1000, ge=1, description="open streams per process")
    live_auth_timeout: float = Field(default=5.0, gt=0, description="WebSocket: first message")
    live_max_subscriptions: int = Field(
        default=20, ge=1, description="WebSocket: orders and feeds watched per connection"
    )
    live_snapshot_limit: int = Field(
        default=100, ge=1, description="all-orders stream: newest orders in its snapshot"
    )
    live_backfill_limit: int = Field(
        default=500, ge=1, description="all-orders stream: entries sent when resuming"
    )

    graphql_ide: bool | None = Field(
        default=None, description="GraphiQL at /graphql; default: on outside production"
    )
    graphql_introspection: bool | None = Field(
        default=None, description="schema introspection; default: on outside production"
    )
    graphql_max_depth: int = Field(default=10, ge=2, le=50, description="nesting of a query")
    graphql_max_tokens: int = Field(default=2000, ge=100, description="tokens in a document")
    graphql_max_aliases: int = Field(default=30, ge=1, description="aliases in a document")

    catalog_cache_enabled: bool = Field(
        default=True, description="serve public catalog reads from memory (api/catalog_cache.py)"
    )
    catalog_cache_max_entries: int = Field(default=1000, ge=1, description="pages per process")
    catalog_cache_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="bytes of pages per process"
    )
    catalog_cache_ttl: float = Field(
        default=10.0,
        gt=0,
        description="seconds a process keeps a page: the backstop for a lost invalidation, "
        "and the most an exact stock figure in a page lags",
    )
    catalog_cache_max_age: int = Field(
        default=5, ge=0, description="Cache-Control max-age of catalog pages (clients, proxies)"
    )
    catalog_cache_stale_while_revalidate: int = Field(
        default=10, ge=0, description="Cache-Control stale-while-revalidate of catalog pages"
    )

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = 10.0
    mail_from: str = "orderly <shop@example.com>"
    mail_dir: str = "./var/mail"
    public_url: str = Field(default="http://127.0.0.1:8000", description="links in e-mails")

    order_max_quantity: int = Field(default=100, ge=1, description="per order line")
    order_max_lines: int = Field(default=50, ge=1)

    payment_provider_url: str | None = Field(
        default=None, description="unset: the in-process sandbox provider (not in production)"
    )
    payment_api_key: SecretStr = SecretStr("sk_test_orderly")
    payment_connect_timeout: float = Field(default=2.0, gt=0)
    payment_timeout: float = Field(default=5.0, gt=0)
    payment_retry_attempts: int = Field(default=4, ge=1, le=10)
    payment_backoff_initial: float = Field(default=0.2, ge=0)
    payment_backoff_max: float = Field(default=2.0, ge=0)
    payment_breaker_threshold: int = Field(default=5, ge=1)
    payment_breaker_reset_seconds: float = Field(default=30.0, gt=0)

    # Outbound webhooks: deliveries are scheduled in the database (next attempt time), so the
    # retry schedule, which reaches about a day, never waits in the broker.
    webhook_timeout: float = Field(default=10.0, gt=0, le=60, description="per attempt, total")
    webhook_retry_initial: float = Field(default=5.0, gt=0, description="first retry, seconds")
    webhook_retry_factor: float = Field(default=4.0, ge=1)
    webhook_retry_max_delay: float = Field(default=8 * 3600.0, gt=0, description="seconds")
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    webhook_disable_after: float = Field(
        default=5 * 24 * 3600.0, gt=0, description="an endpoint failing this long is disabled"
    )
    webhook_secret_overlap: float = Field(
        default=24 * 3600.0, ge=0, description="seconds the old secret still signs after rotation"
    )
    webhook_poll_interval: float = Field(
        default=5.0, gt=0, description="seconds between looks for due deliveries"
    )
    webhook_lease: float = Field(
        default=60.0, gt=0, description="a claimed delivery is tried again after this if unsettled"
    )
    webhook_batch_size: int = Field(default=20, ge=1, le=200)
    webhook_require_https: bool | None = Field(default=None, description="default: in production")
    webhook_allow_networks: list[IPvAnyNetwork] | None = Field(
        default=None,
        description="networks a webhook may reach although not public; "
        "default: loopback outside production, none in production",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """pydantic-settings' own order; the secrets directory is named by ORDERLY_SECRETS_DIR
        (or ``Settings(_secrets_dir=...)``). Every setting can come from a file there."""
        directory = os.environ.get("ORDERLY_SECRETS_DIR")
        secrets = file_secret_settings
        if directory and getattr(secrets, "secrets_dir", None) is None:
            if not Path(directory).is_dir():
                raise ValueError(f"ORDERLY_SECRETS_DIR={directory} is not a directory")
            secrets = SecretsSettingsSource(settings_cls, secrets_dir=directory)
        return init_settings, env_settings, dotenv_settings, secrets

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def run_migrations_on_start(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.environment is Environment.DEVELOPMENT

    @property
    def seed_on_start(self) -> bool:
        if self.seed_demo_data is not None:
            return self.seed_demo_data
        return self.environment is Environment.DEVELOPMENT

    @property
    def serves_docs(self) -> bool:
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.environment is not Environment.PRODUCTION

    @property
    def webhooks_need_https(self) -> bool:
        if self.webhook_require_https is not None:
            return self.webhook_require_https
        return self.environment is Environment.PRODUCTION

    @property
    def webhook_private_networks(self) -> list[IPv4Network | IPv6Network]:
        """The non-public networks webhooks may reach (a local receiver in development)."""
        if self.webhook_allow_networks is not None:
            return list(self.webhook_allow_networks)
        return [] if self.environment is Environment.PRODUCTION else _loopback()

    @property
    def admins_need_mfa(self) -> bool:
        if self.admin_require_mfa is not None:
            return self.admin_require_mfa
        return self.environment is Environment.PRODUCTION

    @property
    def logs_as_json(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _webhook_lease_outlasts_an_attempt(self) -> Settings:
        if self.webhook_lease <= self.webhook_timeout:
            raise ValueError(
                "ORDERLY_WEBHOOK_LEASE must be longer than ORDERLY_WEBHOOK_TIMEOUT, or a delivery "
                "still being sent is claimed and sent again"
            )
        return self

    @property
    def sealing_keys(self) -> list[bytes]:
        """The keys of ``orderly.core.crypto.SecretBox``: ORDERLY_DATA_KEYS, or one derived
        from ORDERLY_SECRET_KEY when unset."""
        if self.data_keys is None:
            return [derived_key(self.secret_key.get_secret_value())]
        return parse_keys(self.data_keys.get_secret_value())

    @model_validator(mode="after")
    def _data_keys_are_keys(self) -> Settings:
        if self.data_keys is not None:
            parse_keys(self.data_keys.get_secret_value())  # ValueError naming the bad key
        return self

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
            problems.append(
                "ORDERLY_SECRET_KEY must be set to a random value of at least 32 characters"
            )
        if self.data_keys is None:
            problems.append(
                "ORDERLY_DATA_KEYS must be set (`orderly keys new` makes a key), so that the "
                "TOTP seeds are not sealed with a key derived from ORDERLY_SECRET_KEY"
            )
        if self.is_sqlite:
            problems.append("ORDERLY_DATABASE_URL must point to PostgreSQL, not SQLite")
        if not self.payment_provider_url:
            problems.append(
                "ORDERLY_PAYMENT_PROVIDER_URL must be set (the sandbox is for development)"
            )
        if "*" in self.cors_origins:
            problems.append("ORDERLY_CORS_ORIGINS must list origins explicitly, not '*'")
        if not self.broker_url:
            problems.append(
                "ORDERLY_BROKER_URL must be set (the in-process job runner is for development)"
            )
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self
