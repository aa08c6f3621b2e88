"""``/docs`` (Swagger UI) and ``/redoc`` served with no CDN: their scripts, styles and favicon
come from the ``fastapi-offline`` package, which bundles them, and Swagger UI's start-up
script is a served file (``docs_static/swagger-init.js``), not inline, so these pages run
under ``script-src 'self'`` (core/middleware.py sets their CSP).

Both are mounted at ``/docs/static``. ReDoc's bundle is served with one change: its sidebar
credit shows Redocly's logo from cdn.redoc.ly, which the CSP refuses (and this network cannot
reach); the logo is replaced by an empty image, the link and its text stay.

The OAuth2 redirect page FastAPI adds for the authorization-code flows is not served:
orderly's only flow is the password flow, which posts to the token URL from the page itself.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = "/docs/static"
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@cache
def _redoc_bundle() -> bytes:
    bundle = files("fastapi_offline").joinpath("static/redoc.standalone.js").read_text("utf-8")
    return bundle.replace(_REDOC_LOGO, _EMPTY_IMAGE).encode()


def _swagger_page(title: str, openapi_url: str, static: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" href="{static}/favicon.png">
<title>{escape(title)}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-init.js"></script>
</body>
</html>
"""
    )


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets; the app is built with both URLs None."""

    @app.get(f"{STATIC}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:  # before the mount, which would serve it as is
        return Response(_redoc_bundle(), media_type="text/javascript")

    app.mount(
        STATIC,
        StaticFiles(packages=[("fastapi_offline", "static"), ("orderly.api", "docs_static")]),
        name="docs-static",
    )
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _swagger_page(f"{app.title} - Swagger UI", root + openapi_url, root + STATIC)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC}/favicon.png",
            with_google_fonts=False,
        )
