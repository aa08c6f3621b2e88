"""The account rules that need no database: lockout delays, TOTP steps, recovery codes, and
sessions on in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from orderly.core.crypto import SecretBox, new_key
from orderly.core.security import InvalidToken, PasswordHasher, TokenCodec
from orderly.services.lockout import LockoutPolicy
from orderly.services.sessions import RefreshTokenReused
from orderly.services.two_factor import matching_step, new_recovery_codes, normalize_recovery_code
from orderly.services.users import UserService
from tests.unit.fakes import FakeUnitOfWork

PASSWORD = "a-decent-passphrase"


def test_delays_start_at_the_threshold_double_and_stop_at_the_cap() -> None:
    policy = LockoutPolicy(
        threshold=3, base_delay=timedelta(seconds=30), max_delay=timedelta(minutes=5)
    )
    delays = [policy.delay_after(n) for n in range(1, 9)]
    assert delays[:2] == [None, None]
    assert [d.total_seconds() for d in delays[2:] if d] == [30, 60, 120, 240, 300, 300]
    assert policy.delay_after(10_000) == timedelta(minutes=5)  # no overflow, still the cap


def test_a_totp_code_matches_its_step_and_one_either_side_only() -> None:
    secret = pyotp.random_base32()
    now = datetime(2026, 11, 28, 12, 0, 10, tzinfo=UTC)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for offset in (-1, 0, 1):
        assert matching_step(secret, totp.at(now, counter_offset=offset), now) == step + offset
    assert matching_step(secret, totp.at(now, counter_offset=2), now) is None
    assert matching_step(secret, "12345", now) is None
    assert matching_step(secret, "abcdef", now) is None


def test_recovery_codes_are_distinct_and_read_back_however_typed() -> None:
    codes = new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert normalize_recovery_code(f"  {codes[0].upper().replace('-', ' ')} ") == codes[0]


@pytest.fixture
def service() -> tuple[UserService, FakeUnitOfWork]:
    uow = FakeUnitOfWork()
    tokens = TokenCodec(
        secret_key="unit-test-secret-0123456789abcdef",
        algorithm="HS256",
        access_ttl=timedelta(minutes=5),
        refresh_ttl=timedelta(days=1),
    )
    box = SecretBox([new_key().encode()])
    return UserService(uow, hasher=PasswordHasher(), tokens=tokens, box=box), uow


async def test_a_reused_refresh_token_ends_its_session(
    service: tuple[UserService, FakeUnitOfWork],
) -> None:
    users, uow = service
    await users.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    first = await users.log_in(email="ann@example.com", password=PASSWORD)
    second = await users.refresh(refresh_token=first.refresh_token)
    with pytest.raises(RefreshTokenReused):
        await users.refresh(refresh_token=first.refresh_token)
    with pytest.raises(InvalidToken):
        await users.refresh(refresh_token=second.refresh_token)
    with pytest.raises(InvalidToken):
        await users.authenticate(access_token=second.access_token)
    [session] = uow.accounts.sessions.values()
    assert session.revoked_reason == "refresh-token-reused"
