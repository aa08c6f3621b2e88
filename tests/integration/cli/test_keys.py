"""``orderly keys new|reseal``: a key rotation of the sealed TOTP seeds from the command line."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from orderly.container import Container
from orderly.core.crypto import SecretBox, UnreadableSecret
from tests.integration.cli.conftest import Cli


def test_new_prints_a_fresh_fernet_key(cli: Cli) -> None:
    first, second = (cli("keys", "new").stdout.strip() for _ in range(2))
    Fernet(first.encode())  # raises if it is not a key
    assert first != second


def test_reseal_moves_every_seed_to_the_first_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = cli("keys", "new").stdout.strip(), cli("keys", "new").stdout.strip()
    cli.settings = cli.settings.model_copy(update={"data_keys": SecretStr(old)})

    async def enrol(container: Container) -> list[tuple[uuid.UUID, str]]:
        enrolled = []
        for n in range(3):
            user = await container.users.register(
                email=f"seed{n}@example.com", password="correct-horse-9", full_name="Seed"
            )
            enrollment = await container.two_factor.begin(user_id=user.id)
            enrolled.append((user.id, enrollment.secret))
        return enrolled

    seeds = dict(cli.run(enrol))
    monkeypatch.setenv("ORDERLY_DATA_KEYS", f"{new},{old}")
    assert cli.json("keys", "reseal") == {"resealed": 3}
    stored = dict(cli.sql("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL"))
    only_new, only_old = SecretBox([new.encode()]), SecretBox([old.encode()])
    assert {uuid.UUID(str(user_id)): only_new.open(value) for user_id, value in stored.items()} == (
        seeds
    )
    for value in stored.values():
        with pytest.raises(UnreadableSecret):
            only_old.open(value)
    assert "Resealed 3 TOTP seed(s)" in cli("keys", "reseal").stdout
