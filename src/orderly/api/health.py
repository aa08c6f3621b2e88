"""Liveness (the process answers) and readiness (its dependencies answer, within a timeout)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from orderly.api.deps import get_container
from orderly.api.openapi import problem_responses
from orderly.api.problems import render
from orderly.container import Container
from orderly.core.database import ping
from orderly.core.errors import Unavailable
from orderly.schemas.health import Readiness

router = APIRouter(prefix="/health", tags=["health"])
READY_TIMEOUT_SECONDS = 2.0


class NotReady(Unavailable):
    """A dependency of the API does not answer; the problem's ``checks`` member says which."""

    code = "not-ready"
    title = "Not ready"


async def _check(probe: Awaitable[object]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with anyio.fail_after(READY_TIMEOUT_SECONDS):
            await probe
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return {"status": "down", "error": type(exc).__name__ or "timeout"}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


async def _broker_reachable(url: str) -> None:
    # Imported here: an API without a broker (the embedded default) never loads kombu.
    from kombu import Connection

    def connect() -> None:
        with Connection(url, connect_timeout=READY_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1)

    await anyio.to_thread.run_sync(connect, abandon_on_cancel=True)


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        200: {"model": Readiness, "description": "Every dependency answers"},
        **problem_responses(NotReady),
    },
)
async def ready(
    request: Request, container: Annotated[Container, Depends(get_container)]
) -> JSONResponse:
    """200 with each dependency's check; 503 problem+json with the same ``checks`` when one
    of them is down."""
    checks: dict[str, Any] = {"database": await _check(ping(container.engine))}
    if container.redis is not None:
        checks["redis"] = await _check(container.redis.ping())
    if container.settings.broker_url:
        checks["broker"] = await _check(_broker_reachable(container.settings.broker_url))
    down = [name for name, check in checks.items() if check["status"] != "ok"]
    if down:
        error = NotReady(f"Not answering: {', '.join(down)}", retry_after=READY_TIMEOUT_SECONDS)
        return render(error, request, checks=checks)
    return JSONResponse({"status": "ok", "checks": checks})
