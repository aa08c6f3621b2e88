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
    assert cli.json("keys", "reseal") == {"resealed": 3, "unreadable": []}
    stored = dict(cli.sql("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL"))
    only_new, only_old = SecretBox([new.encode()]), SecretBox([old.encode()])
    assert {uuid.UUID(str(user_id)): only_new.open(value) for user_id, value in stored.items()} == (
        seeds
    )
    for value in stored.values():
        with pytest.raises(UnreadableSecret):
            only_old.open(value)
    assert "Resealed 3 TOTP seed(s)" in cli("keys", "reseal").stdout
    # A seed sealed with a key no longer configured is named, left alone, and fails the run.
    stray = next(iter(seeds))
    foreign = SecretBox([Fernet.generate_key()]).seal(seeds[stray])
    cli.sql("UPDATE users SET totp_secret = :v WHERE id = :id", v=foreign, id=stray.hex)
    failed = cli("keys", "reseal", code=1)
    assert "Resealed 2 TOTP seed(s)" in failed.stdout
    assert str(stray) in failed.stderr
    assert cli.sql("SELECT totp_secret FROM users WHERE id = :id", id=stray.hex) == [(foreign,)]


def test_a_seed_changed_meanwhile_is_not_overwritten(cli: Cli) -> None:
    async def run(container: Container) -> tuple[bool, bool, str | None]:
        user = await container.users.register(
            email="moved@example.com", password="correct-horse-9", full_name="Moved"
        )
        await container.two_factor.begin(user_id=user.id)  # seals a first seed
        async with container.uow(read_only=True) as uow:
            [(_, first)] = await uow.users.totp_secrets(after=uuid.UUID(int=0), limit=10)
        await container.two_factor.begin(user_id=user.id)  # a new seed meanwhile
        async with container.uow() as uow:
            stale = await uow.users.replace_totp_secret(user.id, first, "resealed-first")
            await uow.commit()
        async with container.uow() as uow:
            [(_, now)] = await uow.users.totp_secrets(after=uuid.UUID(int=0), limit=10)
            current = await uow.users.replace_totp_secret(user.id, now, now)
            await uow.commit()
        return stale, current, now

    stale, current, now = cli.run(run)
    assert (stale, current) == (False, True)
    assert now != "resealed-first"
