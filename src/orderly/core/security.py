"""Password hashing (argon2) and JSON Web Tokens (access + refresh)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import anyio
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from orderly.core.errors import Unauthorized

ISSUER = "orderly"


class InvalidToken(Unauthorized):
    code = "invalid-token"


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    token_type: TokenType
    version: int


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class PasswordHasher:
    """Argon2id hashing off the event loop (a hash costs tens of milliseconds of CPU)."""

    def __init__(self) -> None:
        self._hash = PasswordHash((Argon2Hasher(),))
        self._dummy = self._hash.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant work whether or not the user exists (no account enumeration by timing)."""
        target = password_hash or self._dummy
        ok = await anyio.to_thread.run_sync(self._hash.verify, password, target)
        return ok and password_hash is not None


class TokenCodec:
    def __init__(
        self, *, secret_key: str, algorithm: str, access_ttl: timedelta, refresh_ttl: timedelta
    ) -> None:
        self._key = secret_key
        self._algorithm = algorithm
        self._ttl = {TokenType.ACCESS: access_ttl, TokenType.REFRESH: refresh_ttl}

    def issue_pair(self, user_id: uuid.UUID, version: int) -> TokenPair:
        return TokenPair(
            access_token=self._encode(user_id, version, TokenType.ACCESS),
            refresh_token=self._encode(user_id, version, TokenType.REFRESH),
            expires_in=int(self._ttl[TokenType.ACCESS].total_seconds()),
        )

    def _encode(self, user_id: uuid.UUID, version: int, token_type: TokenType) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "sub": str(user_id),
            "typ": token_type.value,
            "ver": version,
            "iat": now,
            "exp": now + self._ttl[token_type],
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        """Verify signature, expiry, issuer and type; ``alg: none`` is never accepted."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "ver", "iss"]},
            )
            token_type = TokenType(claims["typ"])
            user_id = uuid.UUID(str(claims["sub"]))
            version = int(claims["ver"])
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The token has expired") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("The token is invalid") from exc
        if token_type is not expected:
            raise InvalidToken(f"A {token_type.value} token cannot be used here")
        return TokenClaims(user_id=user_id, token_type=token_type, version=version)
