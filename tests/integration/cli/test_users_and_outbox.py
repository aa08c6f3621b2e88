"""``orderly users``, ``orderly outbox`` and ``orderly flower`` without a terminal."""

from __future__ import annotations

import importlib.util
import uuid

import pytest

from tests.integration.cli.conftest import Cli

ADMIN_PASSWORD = "operator-pw-0042"


def test_the_commands_are_all_there(cli: Cli) -> None:
    listed = cli("--help").stdout
    for name in ("serve", "worker", "beat", "relay", "flower", "migrate", "seed",
                 "create-admin", "users", "outbox", "report", "fake-provider"):  # fmt: skip
        assert name in listed


def test_create_admin_and_deactivate(cli: Cli) -> None:
    cli("create-admin", "--email", "root@example.com", "--password", ADMIN_PASSWORD)
    cli("users", "create-admin", "--email", "Ops@Example.com", input=f"{ADMIN_PASSWORD}\n" * 2)
    [(version,)] = cli.sql("SELECT token_version FROM users WHERE email = 'ops@example.com'")

    gone = cli.json("users", "deactivate", "OPS@example.com")
    assert (gone["email"], gone["is_active"]) == ("ops@example.com", False)
    assert cli.sql(
        "SELECT is_active, token_version FROM users WHERE email = 'ops@example.com'"
    ) == [
        (False, version + 1)  # its tokens are revoked
    ]
    last = cli("users", "deactivate", "root@example.com", code=1)
    assert "last active administrator" in last.stderr
    assert (
        "No user with e-mail nobody@example.com"
        in cli("users", "deactivate", "nobody@example.com", code=1).stderr
    )


def _published_id(cli: Cli, event_type: str) -> str:
    cli.sql(
        "UPDATE outbox SET published_at = created_at, handled_at = created_at, deliveries = 1 "
        "WHERE event_type = :t",
        t=event_type,
    )
    [(event_id,)] = cli.sql("SELECT id FROM outbox WHERE event_type = :t LIMIT 1", t=event_type)
    return str(uuid.UUID(str(event_id)))


def test_outbox_status_retry_and_replay(cli: Cli) -> None:
    cli.json("seed", "--items", "10", "--customers", "2", "--orders", "3")
    cli.sql(
        "UPDATE outbox SET last_error = 'ConnectionError: broker', attempts = 4 "
        "WHERE event_type = 'OrderPlaced'"
    )
    customer = _published_id(cli, "UserRegistered")
    status = {row.pop("event_type"): row for row in cli.json("outbox", "status")}
    assert status["OrderPlaced"]["failed"] == 3
    assert (status["UserRegistered"]["handled"], status["UserRegistered"]["pending"]) == (2, 0)
    assert status["OrderPlaced"]["oldest_pending_age_seconds"] >= 0
    assert status["UserRegistered"]["oldest_pending_age_seconds"] is None
    assert "OrderPlaced" in cli("outbox", "status").stderr  # the table

    assert cli.json("outbox", "retry", "--event-type", "UserRegistered") == {"retried": 0}
    assert cli.json("outbox", "retry") == {"retried": 3}
    assert cli.sql("SELECT DISTINCT attempts, last_error FROM outbox WHERE "
                   "event_type = 'OrderPlaced'") == [(0, None)]  # fmt: skip

    # a welcome mail that was sent: replay skips it unless told to send it again
    sent = "INSERT INTO processed_events (event_id, handler, processed_at) VALUES (:e, :h, :t)"
    cli.sql(sent, e=uuid.UUID(customer).hex, h="welcome_email", t="2026-01-01 00:00:00")
    unknown = cli("outbox", "replay", customer, "--rerun", "charge_twice", code=1)
    assert "welcome_email" in unknown.stderr
    assert cli.json("outbox", "replay", customer) == {
        "id": customer, "event_type": "UserRegistered", "rerun": []
    }  # fmt: skip
    assert cli.sql("SELECT count(*) FROM processed_events") == [(1,)]
    assert "not been handed over" in cli("outbox", "replay", customer, code=1).stderr
    _published_id(cli, "UserRegistered")
    # handed to the broker five times (the default limit), never handled: abandoned
    cli.sql("UPDATE outbox SET handled_at = NULL, deliveries = 5 WHERE id = :e",
            e=uuid.UUID(customer).hex)  # fmt: skip
    status = {row.pop("event_type"): row for row in cli.json("outbox", "status")}
    assert (status["UserRegistered"]["abandoned"], status["UserRegistered"]["handled"]) == (1, 1)
    again = cli.json("outbox", "replay", customer, "--rerun", "welcome_email")
    assert again["rerun"] == ["welcome_email"]
    assert cli.sql("SELECT count(*) FROM processed_events") == [(0,)]
    assert cli.sql("SELECT published_at, handled_at, deliveries FROM outbox WHERE id = :e",
                   e=uuid.UUID(customer).hex) == [(None, None, 0)]  # fmt: skip
    assert "No outbox message" in cli("outbox", "replay", str(uuid.uuid4()), code=1).stderr


def test_flower_without_the_extra_says_how_to_install_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "flower" else real(name, *a)
    )
    missing = cli("flower", code=1)
    assert "orderly[flower]" in missing.stderr
