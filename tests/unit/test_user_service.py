"""UserService rules, on in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orderly.core.crypto import SecretBox, new_key
from orderly.core.errors import Forbidden
from orderly.core.security import InvalidToken, PasswordHasher, TokenCodec
from orderly.models import Role, User
from orderly.services.users import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    SelfLockout,
    UserService,
    WeakPassword,
    WrongCurrentPassword,
    check_password_policy,
)
from tests.unit.fakes import FakeUnitOfWork

PASSWORD = "a-decent-passphrase"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def service(uow: FakeUnitOfWork, hasher: PasswordHasher) -> UserService:
    tokens = TokenCodec(
        secret_key="unit-test-secret-0123456789abcdef",
        algorithm="HS256",
        access_ttl=timedelta(minutes=5),
        refresh_ttl=timedelta(days=1),
    )
    return UserService(uow, hasher=hasher, tokens=tokens, box=SecretBox([new_key().encode()]))


async def test_register_normalizes_and_hashes(service: UserService, uow: FakeUnitOfWork) -> None:
    user = await service.register(email=" Ann@Example.COM ", password=PASSWORD, full_name=" Ann ")
    assert user.email == "ann@example.com"
    assert user.full_name == "Ann"
    assert user.role is Role.CUSTOMER
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert uow.commits == 1


async def test_register_duplicate_in_any_case(service: UserService, uow: FakeUnitOfWork) -> None:
    await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    with pytest.raises(EmailTaken):
        await service.register(email="ANN@example.com", password=PASSWORD, full_name="Ann")
    assert uow.commits == 1


async def test_register_race_lost_at_commit_is_email_taken(
    service: UserService, uow: FakeUnitOfWork
) -> None:
    uow.fail_next_commit = True
    with pytest.raises(EmailTaken):
        await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")


@pytest.mark.parametrize("password", ["short", "x" * 129, "aaaaaaaaaaaa", "my-ann.lee-pass"])
def test_password_policy_rejects(password: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        check_password_policy(password, email="ann.lee@example.com")
    assert caught.value.field == "password"


async def test_log_in_and_authenticate(service: UserService) -> None:
    user = await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    pair = await service.log_in(email="ANN@example.com", password=PASSWORD)
    assert (await service.authenticate(access_token=pair.access_token)).id == user.id
    with pytest.raises(InvalidToken):
        await service.authenticate(access_token=pair.refresh_token)
    refreshed = await service.refresh(refresh_token=pair.refresh_token)
    assert (await service.authenticate(access_token=refreshed.access_token)).id == user.id


async def test_log_in_failures(service: UserService) -> None:
    await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    with pytest.raises(InvalidCredentials):
        await service.log_in(email="ann@example.com", password="wrong-password")
    with pytest.raises(InvalidCredentials):
        await service.log_in(email="bob@example.com", password=PASSWORD)


async def test_deactivation_revokes_tokens_and_blocks_login(service: UserService) -> None:
    admin = await service.register(
        email="root@example.com", password=PASSWORD, full_name="Root", role=Role.ADMIN
    )
    user = await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    pair = await service.log_in(email="ann@example.com", password=PASSWORD)
    await service.change_access(actor=admin, user_id=user.id, is_active=False)
    with pytest.raises(InvalidToken):
        await service.authenticate(access_token=pair.access_token)
    with pytest.raises(InvalidToken):
        await service.refresh(refresh_token=pair.refresh_token)
    with pytest.raises(AccountDisabled):
        await service.log_in(email="ann@example.com", password=PASSWORD)


async def test_password_change_needs_current_and_revokes(service: UserService) -> None:
    user = await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    pair = await service.log_in(email="ann@example.com", password=PASSWORD)
    with pytest.raises(WrongCurrentPassword):
        await service.update_profile(user_id=user.id, password="another-passphrase")
    with pytest.raises(WrongCurrentPassword):
        await service.update_profile(
            user_id=user.id, password="another-passphrase", current_password="nope-nope-nope"
        )
    await service.update_profile(
        user_id=user.id, password="another-passphrase", current_password=PASSWORD
    )
    with pytest.raises(InvalidToken):
        await service.authenticate(access_token=pair.access_token)
    await service.log_in(email="ann@example.com", password="another-passphrase")


async def test_only_admins_change_access_and_never_their_own(service: UserService) -> None:
    admin = await service.register(
        email="root@example.com", password=PASSWORD, full_name="Root", role=Role.ADMIN
    )
    user = await service.register(email="ann@example.com", password=PASSWORD, full_name="Ann")
    with pytest.raises(Forbidden):
        await service.change_access(actor=user, user_id=admin.id, role=Role.CUSTOMER)
    with pytest.raises(SelfLockout):
        await service.change_access(actor=admin, user_id=admin.id, role=Role.CUSTOMER)
    with pytest.raises(SelfLockout):
        await service.change_access(actor=admin, user_id=admin.id, is_active=False)
    promoted = await service.change_access(actor=admin, user_id=user.id, role=Role.ADMIN)
    assert promoted.is_admin


def test_user_entity_rules() -> None:
    user = User(email="a@example.com", password_hash="h", full_name="A", token_version=0)
    user.is_active = True
    user.change_password("h2")
    assert (user.password_hash, user.token_version) == ("h2", 1)
    user.set_active(True)
    assert user.token_version == 1  # staying active revokes nothing
    user.set_active(False)
    assert (user.is_active, user.token_version) == (False, 2)
