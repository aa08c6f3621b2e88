"""GraphiQL at /graphql in a real browser against a real ``orderly serve`` that can reach no
CDN: every file comes from orderly, the page's own CSP lets it render, the schema loads and
a query typed into the editor answers. Screenshot in tests/artifacts/."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.conftest import Console, foreign, open_page, shot
from tests.processes import Process

WAIT_MS = 30_000


async def test_graphiql_renders_and_runs_a_query(
    browser: Browser, server: Process, console: Console
) -> None:
    page, requested = await open_page(browser, console, server)
    async with page.expect_response(
        lambda r: r.url.endswith("/graphql") and r.request.method == "POST", timeout=WAIT_MS
    ) as introspection:
        await page.goto(f"{server.base}/graphql")
    assert (await introspection.value).status == 200
    await expect(page.locator(".graphiql-container")).to_be_visible(timeout=WAIT_MS)
    editor = page.locator(".graphiql-query-editor .CodeMirror").first
    await editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type("{ items(first: 2) { edges { node { name } } ")
    async with page.expect_response(lambda r: r.url.endswith("/graphql")) as answer:
        await page.locator(".graphiql-execute-button").click()
    body = await (await answer.value).json()
    assert len(body["data"]["items"]["edges"]) == 2, body
    await expect(page.locator(".graphiql-response")).to_contain_text("edges", timeout=WAIT_MS)
    await shot(page, "graphiql")
    assert foreign(requested, server) == []
    assert console.csp_violations() == []
    assert [m for m in console.messages if m.startswith(("pageerror", "error"))] == []
    await page.context.close()
