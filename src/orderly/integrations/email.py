"""E-mail: Jinja2 templates with text and HTML parts, sent over SMTP (aiosmtplib) or, with no
SMTP server configured, written as .eml files to a local folder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any

import anyio
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from orderly.core.config import Settings

log = structlog.get_logger(__name__)


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._templates = Environment(
            loader=PackageLoader("orderly", "templates/email"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
        )

    def compose(self, *, to: str, template: str, message_id: uuid.UUID, **context: Any) -> Message:
        """``<template>.subject``, ``.txt`` and ``.html`` rendered into one message.

        The Message-ID comes from the event, so a message sent twice (at-least-once delivery)
        carries the same id and mail clients show it once.

        Built with the standard library's ``email.mime`` classes: ``EmailMessage`` parses
        every header it is given into objects and refolds it when written, most of the CPU
        a worker spent on a mail. Their policy encodes a non-ASCII
        header whole (RFC 2047), so addresses are formatted here: only the name is encoded.
        """
        context.setdefault("shop_url", self._settings.public_url)
        render = self._templates.get_template
        message = MIMEMultipart("alternative")
        message["From"] = _address(self._settings.mail_from)
        message["To"] = _address(to)
        message["Subject"] = render(f"{template}.subject").render(**context).strip()
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = f"<{message_id}@orderly>"
        message.attach(_text(render(f"{template}.txt").render(**context), "plain"))
        message.attach(_text(render(f"{template}.html").render(**context), "html"))
        return message

    async def send(self, message: Message) -> None:
        settings = self._settings
        if settings.smtp_host is None:
            await self._write(message)
            return
        import aiosmtplib  # only with an SMTP server: the default writes files

        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )
        log.info("mail_sent", subject=str(message["Subject"]), message_id=message["Message-ID"])

    async def _write(self, message: Message) -> None:
        folder = Path(self._settings.mail_dir)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        name = message["Message-ID"].strip("<>").split("@")[0]
        target = folder / f"{stamp}-{name}.eml"

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(message))

        await anyio.to_thread.run_sync(write)
        log.info("mail_written", path=str(target))


_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in the .eml files, safe over 7-bit transports


def _address(value: str) -> str:
    """``Name <addr>`` with a non-ASCII name encoded; the address itself is kept."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def _text(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, "us-ascii" if body.isascii() else _UTF8)  # type: ignore[arg-type]
