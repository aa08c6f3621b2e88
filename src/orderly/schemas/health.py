"""What ``GET /health/ready`` answers when every dependency answers."""

from __future__ import annotations

from pydantic import BaseModel


class DependencyCheck(BaseModel):
    status: str  # "ok", or "down" (then ``error`` names what failed)
    latency_ms: float | None = None
    error: str | None = None


class Readiness(BaseModel):
    status: str  # "ok"
    checks: dict[str, DependencyCheck]  # database, and redis and broker when configured
