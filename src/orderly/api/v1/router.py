"""The v1 resources. Each router is included into the app directly under ``PREFIX``: one
level of routers instead of two makes FastAPI match a request with less work. FastAPI tries
them in this order, so the most read come first (the catalog, then orders)."""

from fastapi import APIRouter

from orderly.api import links, live, live_ws
from orderly.api.v1.endpoints import (
    account,
    auth,
    items,
    orders,
    reports,
    timeline,
    two_factor,
    users,
    webhooks,
)

PREFIX = links.V1
ROUTERS: list[APIRouter] = [
    items.router,
    live.feed_router,  # /orders/events before /orders/{order_id}
    orders.router,
    auth.router,
    account.router,
    two_factor.router,
    users.router,
    timeline.router,
    live.router,
    live_ws.router,
    reports.router,
    webhooks.router,
]
