"""The mails about an account itself: the welcome (with the e-mail verification token), a
new verification token, and the password reset. Each token is made here, just before its
mail is sent (services/account_tokens.py): only its hash is ever stored."""

from __future__ import annotations

import structlog

from orderly.events.types import (
    EmailVerificationRequested,
    Event,
    PasswordResetRequested,
    UserRegistered,
)
from orderly.integrations.email import Mailer
from orderly.services.account_tokens import AccountTokens

log = structlog.get_logger(__name__)


class AccountMails:
    def __init__(self, tokens: AccountTokens, *, mailer: Mailer) -> None:
        self._tokens = tokens
        self._mailer = mailer

    async def welcome(self, event: Event) -> None:
        assert isinstance(event, UserRegistered)  # noqa: S101 - registered for UserRegistered
        issued = await self._tokens.issue_verification(user_id=event.user_id)
        await self._send(
            event,
            to=event.email,
            template="welcome",
            full_name=event.full_name,
            email=event.email,
            verify_token=issued.token if issued else None,
        )

    async def verification(self, event: Event) -> None:
        assert isinstance(event, EmailVerificationRequested)  # noqa: S101
        issued = await self._tokens.issue_verification(user_id=event.user_id)
        if issued is None:  # verified meanwhile, deactivated, or asked again within a minute
            return
        await self._send(
            event,
            to=issued.user.email,
            template="verify_email",
            full_name=issued.user.full_name,
            email=issued.user.email,
            verify_token=issued.token,
        )

    async def password_reset(self, event: Event) -> None:
        """Nothing is sent for an address without an active account."""
        assert isinstance(event, PasswordResetRequested)  # noqa: S101
        issued = await self._tokens.issue_password_reset(email=event.email)
        if issued is None:
            return
        await self._send(
            event,
            to=issued.user.email,
            template="password_reset",
            full_name=issued.user.full_name,
            email=issued.user.email,
            reset_token=issued.token,
        )

    async def _send(self, event: Event, *, to: str, template: str, **context: object) -> None:
        message = self._mailer.compose(
            to=to, template=template, message_id=event.event_id, **context
        )
        await self._mailer.send(message)
