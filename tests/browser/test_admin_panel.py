"""The admin panel in a real browser against a real ``orderly serve``: sign-in, items,
orders, refusals shown on the page with nothing written, the cross-origin guard, and the
panel's CSP (no violation on any page). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    ADMIN_PASSWORD,
    CUSTOMER_PASSWORD,
    Console,
    Customer,
    shot,
    sign_in,
)
from tests.processes import Process

WAIT = 30.0


async def api(server: Process, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        return await http.request(method, path, **kwargs)


async def place_order(server: Process, customer: Customer, method: str | None) -> str:
    items = (await api(server, "GET", "/api/v1/items", params={"limit": 1})).json()["items"]
    body: dict[str, Any] = {"lines": [{"item_id": items[0]["id"], "quantity": 1}]}
    if method:
        body["payment_method"] = method
    placed = await api(server, "POST", "/api/v1/orders", json=body, headers=customer.headers)
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["id"]
    return order_id


async def order_status(server: Process, customer: Customer, order_id: str) -> str:
    answer = await api(server, "GET", f"/api/v1/orders/{order_id}", headers=customer.headers)
    status: str = answer.json()["status"]
    return status


async def paid_order(server: Process, customer: Customer) -> str:
    """An order the in-process runner has charged through the sandbox provider."""
    order_id = await place_order(server, customer, "pm_card_visa")
    deadline = time.monotonic() + WAIT
    while await order_status(server, customer, order_id) != "paid":
        assert time.monotonic() < deadline, "the order was not paid in time"
        await asyncio.sleep(0.2)
    return order_id


async def test_admin_searches_an_item_and_changes_its_price(
    admin_page: Page, server: Process
) -> None:
    page = admin_page
    await page.goto(f"{server.base}/admin/item/list")
    await page.fill("#search-input", "DEMO-0007")
    await page.click("#search-button")
    await expect(page.locator("table tbody tr")).to_have_count(1)
    await shot(page, "admin-items-search")
    await page.locator("table tbody tr a[href*='/admin/item/edit/']").click()
    await page.fill("input[name=price_minor]", "4321")
    await page.click("input[name=save][value=Save]")
    await expect(page).to_have_url(f"{server.base}/admin/item/list?search=DEMO-0007")
    public = await api(server, "GET", "/api/v1/items", params={"q": "DEMO-0007"})
    assert public.json()["items"][0]["price_minor"] == 4321


async def test_an_invalid_price_is_shown_and_nothing_is_written(
    admin_page: Page, server: Process
) -> None:
    page = admin_page
    item = (await api(server, "GET", "/api/v1/items", params={"q": "DEMO-0008"})).json()
    item_id, price = item["items"][0]["id"], item["items"][0]["price_minor"]
    await page.goto(f"{server.base}/admin/item/edit/{item_id}")
    await page.fill("input[name=price_minor]", "-5")
    await page.click("input[name=save][value=Save]")
    await expect(page.locator(".alert-danger")).to_contain_text("price_minor")
    await page.fill("input[name=price_minor]", "99999999999999999999")
    await page.click("input[name=save][value=Save]")
    await expect(page.locator(".alert-danger")).to_contain_text("less than or equal")
    await shot(page, "admin-item-invalid-price")
    now = (await api(server, "GET", f"/api/v1/items/{item_id}")).json()
    assert now["price_minor"] == price


async def test_an_unknown_id_shows_not_found(admin_page: Page, server: Process) -> None:
    page = admin_page
    for path in (
        "/admin/item/edit/00000000-0000-0000-0000-000000000000",
        "/admin/order/details/not-an-id",
    ):
        answer = await page.goto(f"{server.base}{path}")
        assert answer is not None
        assert answer.status == 404
    await shot(page, "admin-unknown-id")


async def test_admin_fulfils_a_paid_order_and_its_timeline_names_them(
    admin_page: Page, server: Process, customer: Customer
) -> None:
    page = admin_page
    order_id = await paid_order(server, customer)
    await page.goto(f"{server.base}/admin/order/details/{order_id}")
    await page.click("#action-fulfil")
    await expect(page.locator(".alert-success")).to_contain_text("fulfilled")
    await page.fill("#timeline-note", "Sent with the morning courier")
    await page.click("#action-note")
    await expect(page.locator("#order-timeline")).to_contain_text("Sent with the morning courier")
    await shot(page, "admin-order-fulfilled")
    assert await order_status(server, customer, order_id) == "fulfilled"
    me = (await api(server, "GET", "/api/v1/users/me", headers=customer.headers)).json()
    timeline = await api(
        server, "GET", f"/api/v1/orders/{order_id}/timeline", headers=customer.headers
    )
    entries = timeline.json()
    entries = entries["items"] if isinstance(entries, dict) else entries
    fulfilled = next(e for e in entries if e["type"] == "order.fulfilled")
    assert fulfilled["actor"]["kind"] == "admin"
    assert fulfilled["actor"]["id"] != me["id"]
    admin_id = fulfilled["actor"]["id"]
    await expect(page.locator("#order-timeline")).to_contain_text(f"admin {admin_id}")


async def test_an_action_the_state_machine_refuses_is_shown_and_changes_nothing(
    admin_page: Page, server: Process, customer: Customer
) -> None:
    page = admin_page
    order_id = await place_order(server, customer, None)  # waits for payment
    await page.goto(f"{server.base}/admin/order/details/{order_id}")
    await page.click("#action-fulfil")
    await expect(page.locator(".alert-danger")).to_contain_text("pending_payment")
    await shot(page, "admin-order-refused")
    assert await order_status(server, customer, order_id) == "pending_payment"
    timeline = await api(
        server, "GET", f"/api/v1/orders/{order_id}/timeline", headers=customer.headers
    )
    assert "order.fulfilled" not in timeline.text


async def test_a_forged_cross_origin_post_is_refused(
    admin_page: Page, server: Process, customer: Customer
) -> None:
    """A page on another origin posts the fulfil form at the signed-in admin's panel."""
    order_id = await paid_order(server, customer)
    target = f"{server.base}/admin/order/act/{order_id}/fulfil"
    attacker = "http://attacker.test/"
    html = f'<form method="post" action="{target}"><button id="go">win</button></form>'

    async def serve_attacker(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=html)

    page = await admin_page.context.new_page()
    await page.route(attacker, serve_attacker)
    await page.goto(attacker)
    async with page.expect_navigation():
        await page.click("#go")
    assert "Cross-origin request refused" in await page.content()
    await shot(page, "admin-cross-origin-refused")
    await page.close()
    assert await order_status(server, customer, order_id) == "paid"


async def test_a_customer_cannot_sign_in(
    browser: Browser, server: Process, customer: Customer, console: Console
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    console.watch(page)
    await sign_in(page, server.base, customer.email, CUSTOMER_PASSWORD)
    await expect(page.locator(".invalid-feedback").first).to_contain_text("administrators")
    await shot(page, "admin-customer-refused")
    answer = await page.goto(f"{server.base}/admin/order/list")
    assert answer is not None
    assert page.url.endswith("/admin/login")
    await context.close()


async def test_the_panel_pages_break_no_content_security_rule(
    admin_page: Page, server: Process, console: Console
) -> None:
    page = admin_page
    for path in ("/admin/", "/admin/order/list", "/admin/item/create", "/admin/user/list",
                 "/admin/outbox-message/list", "/admin/sales-report/create",
                 "/admin/webhook-delivery/list", "/admin/admin-audit/list"):  # fmt: skip
        answer = await page.goto(f"{server.base}{path}")
        assert answer is not None
        assert answer.status == 200, path
        await page.wait_for_load_state("networkidle")
    await shot(page, "admin-sales-report-create")
    assert console.csp_violations() == []
    assert [m for m in console.messages if m.startswith("pageerror")] == []


async def test_sign_in_is_rate_limited(browser: Browser, server: Process) -> None:
    """Runs last: it spends this address's login budget (5 a minute)."""
    context = await browser.new_context()
    page = await context.new_page()
    statuses = []
    for _ in range(6):
        await page.goto(f"{server.base}/admin/login")
        await page.fill("input[name=username]", "admin@example.com")
        await page.fill("input[name=password]", ADMIN_PASSWORD + "-wrong")
        async with page.expect_navigation() as navigation:
            await page.click("button[type=submit]")
        response = await navigation.value
        statuses.append(response.status if response else 0)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    await expect(page.locator(".invalid-feedback").first).to_contain_text("Too many")
    await context.close()
