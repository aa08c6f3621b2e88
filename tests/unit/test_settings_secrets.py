"""Secrets from mounted files (ORDERLY_SECRETS_DIR): which source wins, and secrets stay out
of repr(settings) and out of validation errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from orderly.core.config import Settings, secret_settings
from orderly.core.crypto import new_key

STRONG = "k" * 40


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [key for key in os.environ if key.startswith("ORDERLY_")]:
        monkeypatch.delenv(name)


def _secret_file(directory: Path, name: str, value: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(value + "\n")  # as `echo value > file` writes it


def test_every_secret_setting_can_come_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    values = {name: f"from-file-{name.lower()}" for name in secret_settings()}
    values["ORDERLY_SECRET_KEY"] = STRONG
    values["ORDERLY_DATA_KEYS"] = new_key()  # checked: must be a key
    for name, value in values.items():
        _secret_file(secrets, name, value)
    monkeypatch.setenv("ORDERLY_SECRETS_DIR", str(secrets))
    settings = Settings(_env_file=None)
    for name, value in values.items():
        read = getattr(settings, name.removeprefix("ORDERLY_").lower())
        assert (read.get_secret_value() if isinstance(read, SecretStr) else read) == value, name
    assert settings.secrets_dir == str(secrets)


def test_secret_settings_are_the_secretstr_ones_and_the_urls() -> None:
    assert set(secret_settings()) >= {
        "ORDERLY_SECRET_KEY",
        "ORDERLY_PAYMENT_API_KEY",
        "ORDERLY_SMTP_PASSWORD",
        "ORDERLY_SENTRY_DSN",
        "ORDERLY_DATABASE_URL",
        "ORDERLY_BROKER_URL",
        "ORDERLY_REDIS_URL",
    }
    assert not {"ORDERLY_PORT", "ORDERLY_SMTP_HOST", "ORDERLY_ENVIRONMENT"} & set(secret_settings())


def test_precedence_arguments_then_environment_then_env_file_then_secret_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    for name in ("ORDERLY_SMTP_PASSWORD", "ORDERLY_PAYMENT_API_KEY", "ORDERLY_SECRET_KEY"):
        _secret_file(secrets, name, f"file-{name}")
    _secret_file(secrets, "ORDERLY_SENTRY_DSN", "file-dsn")
    env_file = tmp_path / ".env"
    env_file.write_text("ORDERLY_PAYMENT_API_KEY=dotenv-key\nORDERLY_SECRET_KEY=dotenv-secret\n")
    monkeypatch.setenv("ORDERLY_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("ORDERLY_SECRET_KEY", "env-secret")
    monkeypatch.setenv("ORDERLY_SMTP_PASSWORD", "env-password")

    settings = Settings(_env_file=env_file, sentry_dsn="argument-dsn")

    def secret(value: SecretStr | None) -> str:
        assert value is not None
        return value.get_secret_value()

    assert secret(settings.sentry_dsn) == "argument-dsn"  # argument over file
    assert secret(settings.secret_key) == "env-secret"  # environment over .env and file
    assert secret(settings.smtp_password) == "env-password"  # environment over file
    assert secret(settings.payment_api_key) == "dotenv-key"  # .env over file
    assert Settings(_env_file=None).payment_api_key.get_secret_value() == (
        "file-ORDERLY_PAYMENT_API_KEY"  # file over default
    )


def test_a_secrets_dir_given_as_an_argument(tmp_path: Path) -> None:
    _secret_file(tmp_path, "orderly_payment_api_key", "lower-case-name")  # names ignore case
    settings = Settings(_env_file=None, _secrets_dir=tmp_path)
    assert settings.payment_api_key.get_secret_value() == "lower-case-name"


def test_a_missing_secrets_dir_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERLY_SECRETS_DIR", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="ORDERLY_SECRETS_DIR"):
        Settings(_env_file=None)


def test_secrets_stay_out_of_repr_and_validation_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_values = {
        "ORDERLY_DATABASE_URL": "postgresql+asyncpg://orderly:db-pw-8Hq2@db/orderly",
        "ORDERLY_BROKER_URL": "redis://:broker-pw-77Zk@redis:6379/1",
        "ORDERLY_REDIS_URL": "redis://:redis-pw-4Tt1@redis:6379/0",
        "ORDERLY_SECRET_KEY": "jwt-" + "s" * 36,
        "ORDERLY_PAYMENT_API_KEY": "sk_live_pay-9Xw3",
        "ORDERLY_SMTP_PASSWORD": "smtp-pw-2Lm9",
        "ORDERLY_SENTRY_DSN": "https://pub-key-6Ty8@sentry.example/1",
    }
    for name, value in secret_values.items():
        _secret_file(tmp_path, name, value)
    monkeypatch.setenv("ORDERLY_SECRETS_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    shown = repr(settings) + str(settings)
    for value in secret_values.values():
        assert value not in shown

    # production refuses (no provider URL): the error names settings, never their values
    monkeypatch.setenv("ORDERLY_ENVIRONMENT", "production")
    monkeypatch.setenv("ORDERLY_PORT", "not-a-port")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    message = str(refused.value)
    assert "port" in message
    for value in (*secret_values.values(), "not-a-port"):
        assert value not in message
    monkeypatch.delenv("ORDERLY_PORT")
    with pytest.raises(ValidationError, match="ORDERLY_PAYMENT_PROVIDER_URL") as refused:
        Settings(_env_file=None)
    for value in secret_values.values():
        assert value not in str(refused.value)
