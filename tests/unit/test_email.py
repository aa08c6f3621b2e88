"""Composed mails read back the way a mail client reads them (the modern email policy)."""

from __future__ import annotations

import email
import uuid
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from orderly.core.config import Settings
from orderly.integrations.email import Mailer


def read_back(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, _class=EmailMessage, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def test_an_ascii_mail_has_both_parts_and_plain_headers(tmp_path: Path) -> None:
    mailer = Mailer(Settings(_env_file=None, mail_dir=str(tmp_path)))
    event = uuid.uuid4()
    raw = bytes(
        mailer.compose(
            to="jane@example.com",
            template="welcome",
            message_id=event,
            full_name="Jane",
            email="jane@example.com",
        )
    )
    assert b"=?utf-8?" not in raw  # nothing to encode
    message = read_back(raw)
    assert message["Subject"] == "Welcome to orderly, Jane"
    assert message["To"] == "jane@example.com"
    assert message["From"] == "orderly <shop@example.com>"
    assert message["Message-ID"] == f"<{event}@orderly>"
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    body = parts(message)
    assert set(body) == {"text/plain", "text/html"}
    assert "Hello Jane" in body["text/plain"]
    assert "<" in body["text/html"]


def test_non_ascii_names_survive_headers_and_bodies(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, mail_dir=str(tmp_path), mail_from="Bäckerei Zoë <shop@example.com>"
    )
    raw = bytes(
        Mailer(settings).compose(
            to="zoe@example.com",
            template="welcome",
            message_id=uuid.uuid4(),
            full_name="Zoë Øster <b>",
            email="zoe@example.com",
        )
    )
    assert raw.isascii()  # encoded for 7-bit transports
    message = read_back(raw)
    assert message["Subject"] == "Welcome to orderly, Zoë Øster <b>"
    assert message["From"].addresses[0].display_name == "Bäckerei Zoë"
    assert message["From"].addresses[0].addr_spec == "shop@example.com"
    body = parts(message)
    assert "Hello Zoë Øster <b>" in body["text/plain"]
    assert "Zoë Øster &lt;b&gt;" in body["text/html"]  # escaped in HTML only


TEMPLATES = [
    "welcome",
    "order_paid",
    "payment_failed",
    "order_cancelled",
    "order_refunded",
    "order_refund_failed",
    "order_fulfilled",
    "order_expired",
    "sales_report",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders(tmp_path: Path, template: str) -> None:
    mailer = Mailer(Settings(_env_file=None, mail_dir=str(tmp_path)))
    context = {
        "full_name": "Jane",
        "email": "jane@example.com",
        "order_id": "o-1",
        "total": "12.00",
        "currency": "EUR",
        "lines": [{"quantity": 2, "name": "Mug", "unit_price": "6.00"}],
        "reason": "card declined",
        "refunded": False,
        "date_from": "2026-11-22",
        "date_to": "2026-11-22",
        "download_url": "http://127.0.0.1:8000/x",
        "orders": 3,
    }
    message = read_back(
        bytes(
            mailer.compose(
                to="jane@example.com", template=template, message_id=uuid.uuid4(), **context
            )
        )
    )
    assert message["Subject"]
    assert set(parts(message)) == {"text/plain", "text/html"}


@pytest.mark.parametrize(
    ("refunded", "says"),
    [(True, "12.00 EUR you paid have been refunded"), (False, "Nothing was charged")],
)
def test_a_cancellation_says_whether_money_comes_back(
    tmp_path: Path, refunded: bool, says: str
) -> None:
    mailer = Mailer(Settings(_env_file=None, mail_dir=str(tmp_path)))
    message = read_back(
        bytes(
            mailer.compose(
                to="jane@example.com",
                template="order_cancelled",
                message_id=uuid.uuid4(),
                full_name="Jane",
                order_id="o-1",
                total="12.00",
                currency="EUR",
                reason="ordered twice",
                refunded=refunded,
            )
        )
    )
    assert message["Subject"] == "Order o-1 is cancelled"
    text = parts(message)["text/plain"]
    assert "order o-1 is cancelled (ordered twice)." in text
    assert says in text
    assert says.replace("12.00 EUR", "<strong>12.00 EUR</strong>") in parts(message)["text/html"]
