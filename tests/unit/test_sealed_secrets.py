"""TOTP seeds at rest: sealed with ORDERLY_DATA_KEYS, opened with any of them, resealed with
the first on a rotation; a bad key is named, never printed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orderly.core.config import Settings
from orderly.core.crypto import SecretBox, UnreadableSecret, derived_key, new_key, parse_keys

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_a_sealed_seed_opens_to_itself_and_never_shows_it() -> None:
    box = SecretBox([new_key().encode()])
    sealed = box.seal(SEED)
    assert SEED not in sealed
    assert box.seal(SEED) != sealed  # a fresh IV each time
    assert box.open(sealed) == SEED
    assert len(sealed) <= 255  # fits users.totp_secret


def test_rotation_opens_with_any_key_and_reseals_with_the_first() -> None:
    old, new = new_key().encode(), new_key().encode()
    sealed_by_old = SecretBox([old]).seal(SEED)
    rotating = SecretBox([new, old])
    assert rotating.open(sealed_by_old) == SEED
    resealed = rotating.reseal(sealed_by_old)
    assert SecretBox([new]).open(resealed) == SEED  # the old key can go
    with pytest.raises(UnreadableSecret):
        SecretBox([new]).open(sealed_by_old)


def test_a_value_no_key_opens_is_an_error_naming_the_setting() -> None:
    box = SecretBox([new_key().encode()])
    with pytest.raises(UnreadableSecret, match="ORDERLY_DATA_KEYS"):
        box.open(SecretBox([new_key().encode()]).seal(SEED))
    with pytest.raises(UnreadableSecret):
        box.open("gAAAAAdamaged")
    with pytest.raises(UnreadableSecret):
        box.reseal("not-a-token")


def test_a_seed_stored_as_it_is_opens_as_itself_and_reseal_seals_it() -> None:
    """Seeds stored before revision 0013, or by the previous release during a rolling
    deploy, stay usable until they are sealed."""
    box = SecretBox([new_key().encode()])
    assert not box.is_sealed(SEED)
    assert box.is_sealed(box.seal(SEED))
    assert box.open(SEED) == SEED
    sealed = box.reseal(SEED)
    assert box.is_sealed(sealed)
    assert box.open(sealed) == SEED


def test_keys_parse_newest_first_and_a_bad_one_is_named_not_printed() -> None:
    first, second = new_key(), new_key()
    assert parse_keys(f" {first} ,{second},") == [first.encode(), second.encode()]
    with pytest.raises(ValueError, match="no key"):
        parse_keys(" , ")
    with pytest.raises(ValueError, match="key 2 is not a Fernet key") as caught:
        parse_keys(f"{first},hunter2-not-a-key")
    assert "hunter2" not in str(caught.value)


def test_settings_take_data_keys_or_derive_one_from_the_secret_key() -> None:
    key = new_key()
    assert Settings(_env_file=None, data_keys=key).sealing_keys == [key.encode()]
    derived = Settings(_env_file=None, secret_key="a" * 40).sealing_keys
    assert derived == [derived_key("a" * 40)]
    assert derived != Settings(_env_file=None, secret_key="b" * 40).sealing_keys
    with pytest.raises(ValidationError, match="not a Fernet key"):
        Settings(_env_file=None, data_keys="short")
