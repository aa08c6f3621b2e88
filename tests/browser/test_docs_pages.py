"""/docs and /redoc in a real browser against a real ``orderly serve`` that can reach no CDN:
every script and style comes from orderly itself, under a CSP of 'self'. Swagger UI lists
the operations and its Authorize button signs in with the password flow (a call made from
the page then carries the token); ReDoc shows the operations. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Console, foreign, open_page, shot
from tests.processes import Process

WAIT_MS = 30_000


async def test_swagger_ui_lists_the_operations_and_authorizes_with_a_password(
    browser: Browser, server: Process, console: Console
) -> None:
    page, requested = await open_page(browser, console, server)
    await page.goto(f"{server.base}/docs")
    me = page.locator(".opblock-get", has=page.locator('[data-path="/api/v1/users/me"]'))
    await expect(me).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator(".opblock-post [data-path='/api/v1/orders']")).to_have_count(1)
    await shot(page, "docs-swagger")

    await page.click("button.authorize")
    dialog = page.locator(".dialog-ux")
    await dialog.locator("input#oauth_username").fill(ADMIN_EMAIL)
    await dialog.locator("input#oauth_password").fill(ADMIN_PASSWORD)
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/token")) as token:
        await dialog.locator("button.authorize").click()
    assert (await token.value).status == 200
    await expect(dialog.get_by_role("heading", name="Authorized")).to_be_visible()
    await expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    await shot(page, "docs-swagger-authorized")
    await dialog.locator("button.close-modal").click()

    await me.locator(".opblock-summary").first.click()
    await me.locator("button.try-out__btn").click()
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/users/me")) as answer:
        await me.locator("button.execute").click()
    response = await answer.value
    assert response.status == 200
    assert (await response.json())["email"] == ADMIN_EMAIL
    assert (await response.request.all_headers())["authorization"].startswith("Bearer ")
    await expect(me.locator(".live-responses-table tbody .response-col_status")).to_contain_text(
        "200"
    )
    await shot(page, "docs-swagger-try-me")
    assert foreign(requested, server) == []
    assert console.csp_violations() == []
    assert [m for m in console.messages if m.startswith("pageerror")] == []
    await page.context.close()


async def test_redoc_shows_the_operations(
    browser: Browser, server: Process, console: Console
) -> None:
    page, requested = await open_page(browser, console, server)
    await page.goto(f"{server.base}/redoc")
    await expect(page.get_by_role("menuitem", name="orders", exact=True)).to_be_visible(
        timeout=WAIT_MS
    )
    await expect(
        page.get_by_role("heading", name="Place Order", exact=False).first
    ).to_be_attached()
    await expect(
        page.locator("[data-section-id='operation/place_order_api_v1_orders_post']")
    ).to_be_attached()
    await shot(page, "docs-redoc")
    assert foreign(requested, server) == []
    assert console.csp_violations() == []
    assert [m for m in console.messages if m.startswith("pageerror")] == []
    await page.context.close()
