"""Domain error kinds: what went wrong, in the domain's words, with no web framework in sight.

Services, entities and repositories raise these; the HTTP edge (``orderly.api.problems``)
maps each kind to a status and renders RFC 9457 problem+json. A subclass picks a kind and a
``code``, the stable machine-readable name of the problem that clients branch on.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure; subclasses pick a kind below and a ``code``."""

    code = "domain-error"
    title = "Request failed"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def extensions(self) -> dict[str, Any]:
        """Members this problem adds to its problem+json body (RFC 9457 extensions)."""
        return {}


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class Forbidden(DomainError):
    title = "Forbidden"


class Unauthorized(DomainError):
    title = "Not authenticated"


class Unprocessable(DomainError):
    title = "Unprocessable request"


class Unavailable(DomainError):
    """A peer we depend on is down; nothing was changed and the client may retry later."""

    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyRequests(DomainError):
    """Over a budget of ``limit`` requests; ``remaining`` left, the window resets in
    ``retry_after`` seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, limit: int, remaining: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
