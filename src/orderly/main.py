"""The application factory: ``create_app(settings)``; nothing is built at import time.

Serve with ``orderly serve`` or ``uvicorn --factory orderly.main:create_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from orderly import __version__
from orderly.api import health
from orderly.api.v1.router import router as v1_router
from orderly.container import Container
from orderly.core.config import Settings
from orderly.core.errors import install_error_handlers
from orderly.core.logging import configure_logging

DESCRIPTION = """
Order management: register, browse the catalog, place orders, pay, get e-mails.

Errors are RFC 9457 `application/problem+json`. Authenticate with **Authorize**
(OAuth2 password flow: your e-mail as username).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = Container.build(settings)
        app.state.container = container
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(
        title="orderly",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(v1_router)
    return app
