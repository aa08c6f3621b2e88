"""The application factory: ``create_app(settings)``; nothing is built at import time.

Serve with ``orderly serve`` or ``uvicorn --factory orderly.main:create_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from orderly import __version__
from orderly.admin.panel import bind_admin, install_admin
from orderly.api import health, metrics
from orderly.api.catalog_cache import CatalogCacheMiddleware, catalog_cache, serve_catalog_cache
from orderly.api.docs import install_docs
from orderly.api.openapi import TAGS, install_openapi
from orderly.api.problems import install_error_handlers
from orderly.api.v1 import router as v1
from orderly.api.v2.router import router as v2_router
from orderly.api.versioning import ApiVersionMiddleware
from orderly.api.webhook_payloads import document_webhooks
from orderly.container import Container
from orderly.core.config import Environment, Settings
from orderly.core.heap import started_objects_frozen
from orderly.core.logging import access_logger, configure_logging
from orderly.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    UnhandledErrorMiddleware,
)
from orderly.core.observability import (
    configure_sentry,
    instrument_app,
    instrument_clients,
    tracer_provider,
    uninstrument_clients,
)
from orderly.events.live_redis import start_listener
from orderly.events.live_shutdown import close_on_exit_signals
from orderly.graphql.router import install_graphql
from orderly.jobs.embedded import EmbeddedRunner

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

DESCRIPTION = """
Order management: register, browse the catalog, place orders, pay, get e-mails.

Errors are RFC 9457 `application/problem+json`. Authenticate with **Authorize**
(OAuth2 password flow: your e-mail as username). Two API versions are served:
`/api/v1` and `/api/v2` (money as decimal strings, cursor pagination); the
unversioned `/api/...` answers v1 unless `Accept: application/vnd.orderly.v2+json`
or `X-API-Version: 2` asks for v2.
"""


def create_app(  # noqa: PLR0915 - the composition root wires everything
    settings: Settings | None = None,
    *,
    middleware: bool = True,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """``middleware=False`` serves the bare routes (the middleware benchmark's baseline)."""
    settings = settings or Settings()
    configure_logging(settings)
    configure_sentry(settings)
    tracing = tracer_provider(settings, span_exporter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = Container.build(settings)
        if tracing is not None:
            instrument_clients(tracing, container.engine)
        app.state.container = container
        bind_admin(admin, container)
        stop_cache = serve_catalog_cache(cache, container.catalog_version, settings.redis_url)
        listener = start_listener(
            url=settings.redis_url, prefix=settings.redis_key_prefix, hub=container.live
        )
        restore_signals = close_on_exit_signals(container.live)
        runner = None
        if settings.broker_url is None and settings.embedded_jobs:  # jobs run in-process
            runner = EmbeddedRunner(
                dispatcher=container.dispatcher,
                orders=container.orders,
                sessions=container.session_factory,
                interval=settings.relay_interval,
                batch_size=settings.relay_batch_size,
                payment_timeout=timedelta(seconds=settings.order_payment_timeout),
                expiry_interval=settings.order_expiry_interval,
                webhooks=container.webhook_deliveries,
                doorbell=container.webhook_doorbell,
                webhook_interval=settings.webhook_poll_interval,
                tracing=tracing,
            )
            runner.start()
        try:
            with started_objects_frozen():
                yield
        finally:
            restore_signals()
            container.live.close_all()  # open streams end with a retry hint
            if listener is not None:
                await listener.stop()
            await stop_cache()
            if runner is not None:
                await runner.stop()
            await container.close()
            if tracing is not None:
                uninstrument_clients()
                tracing.shutdown()

    app = FastAPI(
        title="orderly",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # install_docs serves both pages with their assets, no CDN
        redoc_url=None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
        # Traces come from ORDERLY_OTEL_* (observability.py), metrics from Prometheus, so
        # FastAPI's own OpenTelemetry stays off: on, it asks the environment for global
        # providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    install_error_handlers(app)
    app.state.catalog_cache = cache = catalog_cache(settings) if middleware else None
    # A request tries the routes in turn, so the REST API's come first, the most read first
    # (api/v1/router.py); GraphQL, the panel, the documents and the probes come after them:
    # they are asked for less, and a GraphQL operation costs milliseconds to their microseconds.
    for resource in v1.ROUTERS:
        app.include_router(resource, prefix=v1.PREFIX)
    app.include_router(v2_router)
    install_graphql(app, settings)
    admin = install_admin(app, settings)
    install_openapi(app)
    if settings.serves_docs:
        install_docs(app)
    document_webhooks(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    if tracing is not None:
        instrument_app(app, tracing)
        app.state.tracer_provider = tracing
    if middleware:
        # Added innermost first: the request passes them in the reverse order.
        # The catch-all error handler moves inside them (see UnhandledErrorMiddleware).
        app.add_middleware(UnhandledErrorMiddleware, handler=app.exception_handlers.pop(Exception))
        app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
        if cache is not None:  # inside version negotiation: the path names the version
            app.add_middleware(
                CatalogCacheMiddleware,
                cache=cache,
                max_age=settings.catalog_cache_max_age,
                stale_while_revalidate=settings.catalog_cache_stale_while_revalidate,
            )
        app.add_middleware(
            ApiVersionMiddleware,
            deprecation=settings.api_v1_deprecation,
            sunset=settings.api_v1_sunset,
        )
        if settings.cors_origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "Retry-After", "Location", "API-Version"],
            )
        app.add_middleware(
            SecurityHeadersMiddleware, hsts=settings.environment is Environment.PRODUCTION
        )
        app.add_middleware(RequestContextMiddleware, access_log=access_logger(settings))
    return app
