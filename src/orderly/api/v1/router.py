"""The v1 resources. Each router is included into the app directly under ``PREFIX``: one
level of routers instead of two makes FastAPI match a request with less work."""

from fastapi import APIRouter

from orderly.api import links, live
from orderly.api.v1.endpoints import auth, items, orders, reports, timeline, users, webhooks

PREFIX = links.V1
ROUTERS: list[APIRouter] = [
    auth.router,
    users.router,
    items.router,
    orders.router,
    timeline.router,
    live.router,
    reports.router,
    webhooks.router,
]
