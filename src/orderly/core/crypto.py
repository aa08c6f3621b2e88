"""Secrets the server must read back, kept encrypted in the database: the TOTP seeds.

A seed cannot be hashed like a password or a recovery code (the server computes codes from
it), so it is sealed with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``): a
copy of the database, a backup or a replica gives no second factor away without the keys,
which live with the other secrets (``ORDERLY_DATA_KEYS``, or a file in
``ORDERLY_SECRETS_DIR``), never in the database.

Several keys, newest first: the first seals, any of them opens (``MultiFernet``). To rotate,
put a new key in front, run ``orderly keys reseal`` (every seed sealed again with it), then
drop the old key. Without ``ORDERLY_DATA_KEYS`` (development) the key is derived from
``ORDERLY_SECRET_KEY``; production requires its own keys, so that rotating the token key
never locks anyone out of their second factor.

A seed stored as it is (base32: before revision 0013, or by a process of the previous
release during a rolling deploy) still opens, as itself; it is sealed at its account's next
accepted code, or by ``orderly keys reseal``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_DERIVED_INFO = b"orderly data key v1"
# A TOTP seed as pyotp makes it; a Fernet token always starts with "gAAAAA" (lower case).
_PLAIN_SEED = re.compile(r"[A-Z2-7]+=*")


class UnreadableSecret(RuntimeError):
    """A sealed value no configured key opens: a key was dropped from ORDERLY_DATA_KEYS
    before ``orderly keys reseal`` ran, or the value was damaged. A deployment error, not
    the caller's: it surfaces as a 500 and in the logs."""


def parse_keys(value: str) -> list[bytes]:
    """``ORDERLY_DATA_KEYS``: Fernet keys (``orderly keys new``), comma-separated, newest
    first. Raises ``ValueError`` naming what is wrong (never the key itself)."""
    keys = [part.strip().encode() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("ORDERLY_DATA_KEYS holds no key")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"ORDERLY_DATA_KEYS: key {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; `orderly keys new` makes one)"
            ) from None
    return keys


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from ``ORDERLY_SECRET_KEY`` (HKDF-SHA256), for development."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVED_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a secret box needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    @staticmethod
    def is_sealed(stored: str) -> bool:
        """False for a seed stored as it is (see the module's docstring)."""
        return _PLAIN_SEED.fullmatch(stored) is None

    def open(self, sealed: str) -> str:
        if not self.is_sealed(sealed):
            return sealed
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret(
                "a stored secret opens with none of ORDERLY_DATA_KEYS "
                "(was a key dropped before `orderly keys reseal` ran?)"
            ) from None

    def reseal(self, sealed: str) -> str:
        """``sealed`` under the first key (its timestamp kept), for a key rotation; a seed
        stored as it is gets sealed."""
        if not self.is_sealed(sealed):
            return self.seal(sealed)
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("a stored secret opens with none of ORDERLY_DATA_KEYS") from None
