"""The user account: identity, credentials, role and the rules that guard them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orderly.events.types import Actor, ActorKind, UserRegistered
from orderly.models.base import Base, RecordsEvents, Timestamped, UTCDateTime, str_enum


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class User(RecordsEvents, Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so the unique constraint is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        str_enum(Role, "user_role", 16),
        default=Role.CUSTOMER,
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped whenever existing tokens must stop working (password change, deactivation).
    token_version: Mapped[int] = mapped_column(default=0)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The per-account login throttle (services/lockout.py): consecutive failed attempts, when
    # the last one was, and until when attempts are refused unchecked.
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # TOTP two-factor: the base32 secret, sealed (orderly.core.crypto.SecretBox; enrolling
    # until ``totp_enabled_at`` is set), and the time step of the last code accepted, so each
    # code opens the account once.
    totp_secret: Mapped[str | None] = mapped_column(String(255), default=None)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    totp_last_step: Mapped[int | None] = mapped_column(default=None)

    @classmethod
    def register(
        cls, *, email: str, password_hash: str, full_name: str, role: Role = Role.CUSTOMER
    ) -> User:
        """A new active account; records ``UserRegistered`` (the welcome mail follows it)."""
        user = cls(
            id=uuid.uuid4(),
            email=cls.normalize_email(email),
            password_hash=password_hash,
            full_name=full_name.strip(),
            role=role,
            is_active=True,
            token_version=0,
        )
        user.record(UserRegistered(user_id=user.id, email=user.email, full_name=user.full_name))
        return user

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def as_actor(self) -> Actor:
        """This user as the author of a change (events, the order timeline)."""
        return Actor(ActorKind.ADMIN if self.is_admin else ActorKind.CUSTOMER, self.id)

    def change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash
        self._revoke_tokens()

    def revoke_tokens(self) -> None:
        """Every access and refresh token issued so far stops working ("log out everywhere")."""
        self._revoke_tokens()

    def set_active(self, active: bool) -> None:
        if self.is_active and not active:
            self._revoke_tokens()
        self.is_active = active

    def _revoke_tokens(self) -> None:
        self.token_version = (self.token_version or 0) + 1
