"""Outbound webhooks: the endpoints administrators register, one delivery per (event,
endpoint), and the log of every attempt to deliver it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.events.types import WebhookEndpointDisabled
from orderly.models.base import Base, RecordsEvents, Timestamped, UTCDateTime, str_enum, utcnow


class DisabledReason(StrEnum):
    GONE = "gone"  # the receiver answered 410 Gone
    FAILING = "failing"  # every attempt failed for longer than allowed


class WebhookEndpoint(RecordsEvents, Timestamped, Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # Signing keys, not passwords: kept as they are so they can sign. Shown once, never logged.
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(20))

    @classmethod
    def register(
        cls, *, url: str, description: str, event_types: list[str], secret: str, enabled: bool
    ) -> WebhookEndpoint:
        return cls(
            id=uuid.uuid4(),
            url=url,
            description=description,
            event_types=sorted(set(event_types)),
            secret=secret,
            enabled=enabled,
        )

    def __repr__(self) -> str:  # never the secrets
        return f"WebhookEndpoint(id={self.id}, url={self.url!r}, enabled={self.enabled})"

    def subscribes_to(self, event_type: str) -> bool:
        return self.enabled and event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the previous one while the rotation's overlap lasts."""
        secrets = [self.secret]
        until = self.previous_secret_until
        if self.previous_secret and until is not None and until > now:
            secrets.append(self.previous_secret)
        return secrets

    def rotate_secret(self, new_secret: str, *, now: datetime, overlap: timedelta) -> None:
        """Sign with ``new_secret`` from now on, and with the old one too until the overlap
        ends, so receivers can switch without missing a delivery."""
        self.previous_secret = self.secret if overlap > timedelta(0) else None
        self.previous_secret_until = now + overlap if overlap > timedelta(0) else None
        self.secret = new_secret

    def enable(self) -> None:
        self.enabled = True
        self.failing_since = None
        self.disabled_reason = None

    def disable(self, reason: DisabledReason | None = None) -> None:
        """Stop delivering. ``reason``: the sender gave up on the endpoint (the admins are
        told, through ``WebhookEndpointDisabled``); None: an administrator switched it off."""
        if not self.enabled:
            return
        self.enabled = False
        if reason is not None:
            self.disabled_reason = reason.value
            self.record(
                WebhookEndpointDisabled(endpoint_id=self.id, url=self.url, reason=reason.value)
            )

    def attempt_succeeded(self) -> None:
        self.failing_since = None

    def attempt_failed(self, *, now: datetime, disable_after: timedelta) -> bool:
        """Count a failed attempt; True if the endpoint has failed too long and is disabled."""
        if self.failing_since is None:
            self.failing_since = now
        if now - self.failing_since >= disable_after:
            self.disable(DisabledReason.FAILING)
            return True
        return False


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (at next_attempt_at)
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # given up, or the endpoint was disabled; can be replayed


class WebhookDelivery(Timestamped, Base):
    """One event for one endpoint. Its id makes the ``webhook-id`` header: the same on every
    attempt and replay, the receiver's idempotency key."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    event_type: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent and signed
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "webhook_delivery_status", 16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)  # every attempt ever: numbers the log
    failures: Mapped[int] = mapped_column(default=0)  # in a row since queued or replayed
    # When the next attempt is due; while one is under way, the end of its claim's lease.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None]
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"

    def succeeded(self, *, now: datetime) -> None:
        self.status = DeliveryStatus.DELIVERED
        self.failures = 0
        self.delivered_at = now

    def retry_at(self, when: datetime) -> None:
        self.failures += 1
        self.next_attempt_at = when

    def give_up(self) -> None:
        self.failures += 1
        self.status = DeliveryStatus.FAILED

    def replay(self, *, now: datetime) -> None:
        """Send again (same webhook-id, a fresh timestamp and signature), on a fresh schedule."""
        self.status = DeliveryStatus.PENDING
        self.failures = 0
        self.next_attempt_at = now


class WebhookAttempt(Base):
    """One try at a delivery, kept for the log: what was answered, or what went wrong."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "number", name="uq_webhook_attempts_delivery_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    response: Mapped[str | None] = mapped_column(Text)  # the first KiB of the answer
    error: Mapped[str | None] = mapped_column(String(500))
