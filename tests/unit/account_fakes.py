"""An in-memory ``Accounts`` repository: sessions, mailed tokens, recovery codes, and the
throttle and TOTP columns of the users it shares with ``FakeUsers``."""

from __future__ import annotations

import uuid
from datetime import datetime

from orderly.models import AccountToken, AuthSession, RecoveryCode, TokenPurpose, User
from orderly.repositories.accounts import SignedInAccount
from orderly.unit_of_work import Accounts


class FakeAccounts:
    def __init__(self, users: dict[uuid.UUID, User]) -> None:
        self.users = users
        self.sessions: dict[uuid.UUID, AuthSession] = {}
        self.tokens: dict[uuid.UUID, AccountToken] = {}
        self.codes: list[RecoveryCode] = []

    def add(self, row: AuthSession | AccountToken | RecoveryCode) -> None:
        if row.id is None:
            row.id = uuid.uuid4()
        if isinstance(row, AuthSession):
            self.sessions[row.id] = row
        elif isinstance(row, AccountToken):
            self.tokens[row.id] = row
        else:
            self.codes.append(row)

    async def signed_in_user(self, user_id: uuid.UUID, session_id: uuid.UUID) -> User | None:
        session = self.sessions.get(session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            return None
        return self.users.get(user_id)

    async def signed_in_account(
        self, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> SignedInAccount | None:
        return await self.signed_in_user(user_id, session_id)  # a User has those columns

    async def rotate_refresh(
        self,
        session_id: uuid.UUID,
        *,
        user_id: uuid.UUID,
        old_hash: str,
        new_hash: str,
        now: datetime,
    ) -> bool:
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.user_id != user_id
            or session.revoked_at is not None
            or session.refresh_token_hash != old_hash
        ):
            return False
        session.refresh_token_hash, session.last_used_at = new_hash, now
        return True

    async def revoke_session(
        self, session_id: uuid.UUID, *, user_id: uuid.UUID, reason: str, now: datetime
    ) -> bool:
        session = self.sessions.get(session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            return False
        session.revoked_at, session.revoked_reason = now, reason
        return True

    async def revoke_sessions(self, user_id: uuid.UUID, *, reason: str, now: datetime) -> int:
        open_ones = [
            s for s in self.sessions.values() if s.user_id == user_id and s.revoked_at is None
        ]
        for session in open_ones:
            session.revoked_at, session.revoked_reason = now, reason
        return len(open_ones)

    async def token_by_hash(self, token_hash: str) -> AccountToken | None:
        return next((t for t in self.tokens.values() if t.token_hash == token_hash), None)

    async def use_token(self, token_id: uuid.UUID, *, now: datetime) -> bool:
        token = self.tokens.get(token_id)
        if token is None or token.used_at is not None or token.expires_at <= now:
            return False
        token.used_at = now
        return True

    async def use_tokens(self, user_id: uuid.UUID, purpose: TokenPurpose, *, now: datetime) -> None:
        for token in self.tokens.values():
            if token.user_id == user_id and token.purpose == purpose and token.used_at is None:
                token.used_at = now

    async def last_token_at(self, user_id: uuid.UUID, purpose: TokenPurpose) -> datetime | None:
        made = [
            t.created_at
            for t in self.tokens.values()
            if t.user_id == user_id and t.purpose == purpose
        ]
        return max(made, default=None)

    async def replace_recovery_codes(self, user_id: uuid.UUID, code_hashes: list[str]) -> None:
        await self.delete_recovery_codes(user_id)
        for code_hash in code_hashes:
            self.add(RecoveryCode(user_id=user_id, code_hash=code_hash))

    async def delete_recovery_codes(self, user_id: uuid.UUID) -> None:
        self.codes = [c for c in self.codes if c.user_id != user_id]

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str, *, now: datetime) -> bool:
        for code in self.codes:
            if code.user_id == user_id and code.code_hash == code_hash and code.used_at is None:
                code.used_at = now
                return True
        return False

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        return sum(1 for c in self.codes if c.user_id == user_id and c.used_at is None)

    async def accept_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        user = self.users[user_id]
        if user.totp_last_step is not None and user.totp_last_step >= step:
            return False
        user.totp_last_step = step
        return True

    async def count_failed_login(
        self, user_id: uuid.UUID, *, now: datetime, forget_before: datetime
    ) -> int:
        user = self.users[user_id]
        last = user.last_failed_login_at
        user.failed_logins = 1 if last is None or last < forget_before else user.failed_logins + 1
        user.last_failed_login_at = now
        return user.failed_logins

    async def lock(self, user_id: uuid.UUID, *, until: datetime) -> None:
        self.users[user_id].locked_until = until

    async def clear_failures(self, user_id: uuid.UUID) -> None:
        user = self.users[user_id]
        user.failed_logins, user.last_failed_login_at, user.locked_until = 0, None, None


_ACCOUNTS: type[Accounts] = FakeAccounts
