"""Secrets delivered as files (ORDERLY_SECRETS_DIR) reach the processes and never leave them:
not in the API's answers (errors, readiness, /metrics) and not in the logs of the API, the
relay or a worker, also while the broker they point to is down."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from orderly.core.crypto import new_key
from tests.processes import ORDERLY, Process, clean_env, free_port

pytestmark = pytest.mark.postgres


def _secrets(directory: Path, postgres_url: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    values = {
        # the local server trusts its clients, so a password it ignores still connects
        "ORDERLY_DATABASE_URL": make_url(postgres_url)
        .set(password=f"db-pw-{tag}")
        .render_as_string(hide_password=False),
        "ORDERLY_SECRET_KEY": f"jwt-secret-{tag}-0123456789abcdefghij",
        "ORDERLY_DATA_KEYS": new_key(),
        "ORDERLY_BROKER_URL": f"redis://:broker-pw-{tag}@127.0.0.1:1/0",  # nothing listens
        "ORDERLY_PAYMENT_API_KEY": f"sk_live_{tag}",
        "ORDERLY_SMTP_PASSWORD": f"smtp-pw-{tag}",
        "ORDERLY_SENTRY_DSN": f"http://sentrykey{tag}@127.0.0.1:1/1",
    }
    directory.mkdir()
    for name, value in values.items():
        (directory / name).write_text(value + "\n")
    return values


def _leaks(text: str, values: dict[str, str]) -> list[str]:
    """The secrets, or their password parts, found in ``text``."""
    found = []
    for name, value in values.items():
        parts = {value, make_url(value).password} if "://" in value else {value}
        if any(part and str(part) in text for part in parts):
            found.append(name)
    return found


def test_secrets_from_files_stay_out_of_answers_and_logs(tmp_path: Path, postgres_url: str) -> None:
    secrets = _secrets(tmp_path / "secrets", postgres_url)
    port = free_port()
    env = clean_env(
        ORDERLY_ENVIRONMENT="production",
        ORDERLY_SECRETS_DIR=str(tmp_path / "secrets"),
        ORDERLY_PAYMENT_PROVIDER_URL="http://127.0.0.1:1",
        ORDERLY_SMTP_HOST="127.0.0.1",
        ORDERLY_PORT=str(port),
    )
    api = Process([str(ORDERLY), "serve"], workdir=tmp_path, env=env, port=port,
                  ready_path="/health/live")  # fmt: skip
    relay = Process([str(ORDERLY), "relay"], workdir=tmp_path, env=env)
    worker = Process([str(ORDERLY), "worker", "--concurrency", "1"], workdir=tmp_path, env=env)
    answers: list[httpx.Response] = []
    try:
        api.wait_ready()
        with httpx.Client(base_url=api.base, timeout=30) as http:
            ready = http.get("/health/ready")
            assert ready.status_code == 503  # the broker is down
            assert ready.json()["checks"]["database"]["status"] == "ok"  # the file's URL works
            registered = http.post(
                "/api/v1/auth/register",
                json={"email": "s@example.com", "password": PASSWORD, "full_name": "S"},
            )
            assert registered.status_code == 201, registered.text
            token = http.post(
                "/api/v1/auth/token", data={"username": "s@example.com", "password": PASSWORD}
            )
            assert token.status_code == 200  # signed with the file's key
            answers = [
                ready,
                registered,
                token,
                http.get("/metrics"),
                http.post(
                    "/api/v1/auth/token",
                    data={"username": "s@example.com", "password": "wrong-one-x"},
                ),
                http.post("/api/v1/auth/register", json={"email": "nope"}),
                http.get("/api/v1/users/me", headers={"Authorization": "Bearer forged"}),
                http.get("/no/such/page"),
            ]
        assert [a.status_code for a in answers[3:]] == [200, 401, 422, 401, 404]
        # the relay and the worker try the unreachable broker and say so in their logs
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            "127.0.0.1:1" in relay.log.read_text() and "127.0.0.1:1" in worker.log.read_text()
        ):
            time.sleep(0.5)
    finally:
        for process in (api, relay, worker):
            process.stop()
    for answer in answers:
        shown = answer.text + "".join(f"{k}: {v}\n" for k, v in answer.headers.items())
        assert _leaks(shown, secrets) == [], answer.request.url
    for process in (api, relay, worker):
        log = process.log.read_text()
        assert "127.0.0.1" in log  # it did log
        assert _leaks(log, secrets) == [], process.log.name


PASSWORD = "a-long-passphrase"
