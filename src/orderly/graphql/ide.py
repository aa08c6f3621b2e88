"""GraphiQL at ``/graphql`` with no CDN: GraphiQL 2.4.7, React 17 and graphql-ws come
from the ``graphene-django-graphiql-static`` package (graphene-django's CDN files,
byte for byte), served at ``/graphql/static`` with orderly's start-up script. The page has a
Content-Security-Policy of its own (the API's ``default-src 'none'`` would blank it):
scripts and styles from orderly only, plus inline styles, which GraphiQL's editor sets."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = "/graphql/static"
ASSETS = ("graphene_django_graphiql_static", "static/graphene_django_graphiql_static")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphql-ws.min.js",
    "graphiql-init.js",
)
STYLES = ("graphiql.min.css", "graphiql-page.css")


def graphiql_page(endpoint: str, static: str) -> HTMLResponse:
    links = "".join(f'<link rel="stylesheet" href="{static}/{name}">\n' for name in STYLES)
    scripts = "".join(f'<script src="{static}/{name}"></script>\n' for name in SCRIPTS)
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>orderly - GraphiQL</title>
<link rel="icon" href="data:,">
{links}</head>
<body>
<div id="graphiql" data-endpoint="{escape(endpoint)}">Loading...</div>
{scripts}</body>
</html>
"""
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP})


def mount_assets(app: FastAPI) -> None:
    files = StaticFiles(packages=[ASSETS, ("orderly.graphql", "static")])
    app.mount(STATIC, files, name="graphiql-static")
