"""Tokens, money and the production safety checks of the settings."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from orderly.core.config import Environment, Settings
from orderly.core.money import to_major, validate_currency
from orderly.core.security import InvalidToken, TokenCodec, TokenType

STRONG = "p" * 40


def codec(access: timedelta = timedelta(minutes=5)) -> TokenCodec:
    return TokenCodec(
        secret_key="unit-test-secret-0123456789abcdef",
        algorithm="HS256",
        access_ttl=access,
        refresh_ttl=timedelta(days=1),
    )


def test_token_round_trip_and_type_check() -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    pair = codec().issue_pair(user_id, 3, session_id)
    claims = codec().decode(pair.access_token, TokenType.ACCESS)
    assert (claims.user_id, claims.version, claims.session_id) == (user_id, 3, session_id)
    assert codec().decode(pair.refresh_token, TokenType.REFRESH).session_id == session_id
    with pytest.raises(InvalidToken, match="access token cannot be used"):
        codec().decode(pair.access_token, TokenType.REFRESH)


def test_expired_token() -> None:
    pair = codec(access=timedelta(seconds=-1)).issue_pair(uuid.uuid4(), 0, uuid.uuid4())
    with pytest.raises(InvalidToken, match="expired"):
        codec().decode(pair.access_token, TokenType.ACCESS)


def test_a_remembered_token_still_expires_and_keeps_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = codec(access=timedelta(seconds=60))
    pair = tokens.issue_pair(uuid.uuid4(), 0, uuid.uuid4())
    tokens.decode(pair.access_token, TokenType.ACCESS)  # verified once, then remembered
    with pytest.raises(InvalidToken, match="access token cannot be used"):
        tokens.decode(pair.access_token, TokenType.REFRESH)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.decode(pair.access_token, TokenType.ACCESS)


def test_a_tampered_token_is_refused_even_after_the_genuine_one_was_seen() -> None:
    tokens = codec()
    genuine = tokens.issue_pair(uuid.uuid4(), 0, uuid.uuid4()).access_token
    tokens.decode(genuine, TokenType.ACCESS)
    header, payload, signature = genuine.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}AA"
    with pytest.raises(InvalidToken, match="invalid"):
        tokens.decode(forged, TokenType.ACCESS)


def test_money_is_exact() -> None:
    assert to_major(1234, "EUR") == Decimal("12.34")
    assert to_major(5, "JPY") == Decimal(5)
    assert to_major(1, "KWD") == Decimal("0.001")
    assert validate_currency(" usd ") == "USD"
    with pytest.raises(ValueError, match="unsupported"):
        validate_currency("ZZZ")


def production(**overrides: object) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "secret_key": STRONG,
        "database_url": "postgresql+asyncpg://orderly@db/orderly",
        "payment_provider_url": "https://payments.example",
        "broker_url": "redis://redis:6379/0",
        "data_keys": "sCoX9rQ8o1Qe0gJb3iVf7zkN6d0Lw7YvXc2Hc1yq0nE=",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_production_accepts_safe_settings() -> None:
    assert production().environment is Environment.PRODUCTION


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"secret_key": "dev-insecure-secret-key-change-me-0123456789"}, "ORDERLY_SECRET_KEY"),
        ({"secret_key": "short"}, "ORDERLY_SECRET_KEY"),
        ({"database_url": "sqlite+aiosqlite:///./orderly.db"}, "ORDERLY_DATABASE_URL"),
        ({"cors_origins": ["*"]}, "ORDERLY_CORS_ORIGINS"),
        ({"payment_provider_url": None}, "ORDERLY_PAYMENT_PROVIDER_URL"),
        ({"broker_url": None}, "ORDERLY_BROKER_URL"),
        ({"data_keys": None}, "ORDERLY_DATA_KEYS"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        production(**overrides)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERLY_PORT", "9001")
    monkeypatch.setenv("ORDERLY_ADMIN_EMAIL", "boss@example.com")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.admin_email) == (9001, "boss@example.com")
    assert settings.run_migrations_on_start
    assert settings.seed_on_start


def test_production_via_environment_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERLY_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="ORDERLY_SECRET_KEY") as caught:
        Settings(_env_file=None)
    assert "ORDERLY_DATABASE_URL" in str(caught.value)


def test_the_log_level_is_a_name_both_loggers_know_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERLY_LOG_LEVEL", "warning")
    assert Settings(secret_key="s" * 40).log_level == "WARNING"
    monkeypatch.setenv("ORDERLY_LOG_LEVEL", "fatal")  # stdlib knows it, structlog does not
    with pytest.raises(ValidationError, match="log_level"):
        Settings(secret_key="s" * 40)
