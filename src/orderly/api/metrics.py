"""``GET /metrics`` for Prometheus, answered only to the networks in ``ORDERLY_METRICS_ALLOW``."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from orderly.api.deps import get_container
from orderly.container import Container
from orderly.core import metrics
from orderly.core.errors import NotFound

router = APIRouter(tags=["operations"])


class MetricsHidden(NotFound):
    code = "not-found"


@router.get("/metrics", include_in_schema=False)
async def read_metrics(
    request: Request, container: Annotated[Container, Depends(get_container)]
) -> Response:
    settings = container.settings
    client = request.client.host if request.client else None
    try:
        address = ip_address(client) if client else None
    except ValueError:
        address = None
    allowed = address is not None and any(address in net for net in settings.metrics_allow)
    if not settings.metrics_enabled or not allowed:
        raise MetricsHidden("Not Found")
    pool = container.engine.pool
    checked_out = getattr(pool, "checkedout", None)
    if callable(checked_out):
        metrics.DB_POOL_IN_USE.set(checked_out())
    breaker = container.payment_provider.breaker
    metrics.BREAKER_STATE.labels(breaker.name).set(breaker.state.level)
    async with container.uow() as uow:
        pending, oldest = await uow.outbox.backlog()
    metrics.record_outbox_backlog(pending, oldest)
    body, content_type = metrics.render(settings)
    return Response(body, media_type=content_type)
