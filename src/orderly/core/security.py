"""Password hashing (argon2) and JSON Web Tokens: access and refresh tokens name their
session (``sid``, the refresh-token family the service stores); an "mfa" token is the
short-lived proof that the password step of a two-factor login passed."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import anyio
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from orderly.core.errors import Unauthorized

ISSUER = "orderly"
MFA_TOKEN_TTL = timedelta(minutes=5)


class InvalidToken(Unauthorized):
    code = "invalid-token"


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"
    MFA = "mfa"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    token_type: TokenType
    version: int
    session_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class PasswordHasher:
    """Argon2id hashing off the event loop (a hash is CPU-expensive by design), at most one
    hash per CPU at a time: each takes 64 MiB, and without a bound a burst of logins fills
    every thread of the pool (40 at once came to 2 GiB resident); more threads than CPUs
    would not finish them sooner anyway."""

    def __init__(self, concurrency: int | None = None) -> None:
        self._hash = PasswordHash((Argon2Hasher(),))
        self._dummy = self._hash.hash(secrets.token_urlsafe(16))
        self._concurrency = concurrency or os.cpu_count() or 1
        self._limiter: anyio.CapacityLimiter | None = None

    def _slots(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made in the event loop that first hashes
            self._limiter = anyio.CapacityLimiter(self._concurrency)
        return self._limiter

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash.hash, password, limiter=self._slots())

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant work whether or not the user exists (no account enumeration by timing)."""
        target = password_hash or self._dummy
        ok = await anyio.to_thread.run_sync(
            self._hash.verify, password, target, limiter=self._slots()
        )
        return ok and password_hash is not None


class TokenCodec:
    """Issues and verifies tokens. Verified tokens are remembered until they expire (at most
    ``VERIFIED_CACHE_SIZE`` of them): a client sends the same access token with every
    request, and verifying it again (base64, JSON, HMAC, claim checks) showed in the profile
    of every authenticated request. Revocation is unaffected: the user's token version and state
    are read from the database on every request."""

    VERIFIED_CACHE_SIZE = 4096

    def __init__(
        self, *, secret_key: str, algorithm: str, access_ttl: timedelta, refresh_ttl: timedelta
    ) -> None:
        self._key = secret_key
        self._algorithm = algorithm
        self._ttl = {
            TokenType.ACCESS: access_ttl,
            TokenType.REFRESH: refresh_ttl,
            TokenType.MFA: MFA_TOKEN_TTL,
        }
        self._verified: OrderedDict[str, tuple[TokenClaims, float]] = OrderedDict()

    def issue_pair(self, user_id: uuid.UUID, version: int, session_id: uuid.UUID) -> TokenPair:
        return TokenPair(
            access_token=self._encode(user_id, version, TokenType.ACCESS, session_id),
            refresh_token=self._encode(user_id, version, TokenType.REFRESH, session_id),
            expires_in=self.lifetime(TokenType.ACCESS),
        )

    def issue_mfa(self, user_id: uuid.UUID, version: int) -> str:
        return self._encode(user_id, version, TokenType.MFA, None)

    def lifetime(self, token_type: TokenType) -> int:
        """Seconds a token of this type is valid."""
        return int(self._ttl[token_type].total_seconds())

    def _encode(
        self, user_id: uuid.UUID, version: int, token_type: TokenType, session_id: uuid.UUID | None
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": str(user_id),
            "typ": token_type.value,
            "ver": version,
            "iat": now,
            "exp": now + self._ttl[token_type],
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        """Verify signature, expiry, issuer and type; ``alg: none`` is never accepted."""
        known = self._verified.get(token)
        if known is not None:
            claims, expires_at = known
            if time.time() < expires_at:
                return self._checked(claims, expected)
            del self._verified[token]
            raise InvalidToken("The token has expired")
        claims = self._verify(token)
        return self._checked(claims, expected)

    @staticmethod
    def _checked(claims: TokenClaims, expected: TokenType) -> TokenClaims:
        if claims.token_type is not expected:
            raise InvalidToken(f"A {claims.token_type.value} token cannot be used here")
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "ver", "iss"]},
            )
            verified = TokenClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                token_type=TokenType(claims["typ"]),
                version=int(claims["ver"]),
                session_id=uuid.UUID(str(claims["sid"])) if "sid" in claims else None,
            )
            expires_at = float(claims["exp"])
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The token has expired") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("The token is invalid") from exc
        self._verified[token] = (verified, expires_at)
        if len(self._verified) > self.VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)  # the oldest verified token goes first
        return verified
