"""The admin panel over HTTP (SQLite and PostgreSQL): its session cookie, the origin check,
sign-out when access is revoked, and the audit record of every change it makes."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from orderly.container import Container
from orderly.models import AdminAudit, Role
from tests.conftest import Account

ORIGIN = {"Origin": "http://testserver"}


async def sign_in(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.post(
        "/admin/login",
        data={"username": account.email, "password": account.password},
        headers=ORIGIN,
    )


async def audit_rows(container: Container) -> list[AdminAudit]:
    async with container.session_factory() as session:
        return list(await session.scalars(select(AdminAudit).order_by(AdminAudit.occurred_at)))


async def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_panel(
    client: httpx.AsyncClient, admin: Account
) -> None:
    answer = await sign_in(client, admin)
    assert answer.status_code == 302
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("orderly_admin=")
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/admin"):
        assert flag in cookie
    assert "Secure" not in cookie  # development: served over http
    assert (await client.get("/admin/item/list")).status_code == 200


async def test_a_post_from_another_origin_or_none_is_refused_before_anything(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    await sign_in(client, admin)
    body = {"sku": "EVIL-1", "name": "Evil", "price_minor": "1", "currency": "EUR", "stock": "1"}
    for headers in ({"Origin": "http://attacker.test"}, {"Origin": "null"}, {}):
        answer = await client.post("/admin/item/create", data=body, headers=headers)
        assert answer.status_code == 403, headers
    assert (await container.catalog.list_items(limit=10, offset=0))[1] == 0
    referer = {"Referer": "http://testserver/admin/item/create"}
    answer = await client.post("/admin/item/create", data={**body, "save": "Save"}, headers=referer)
    assert answer.status_code == 302


async def test_changes_are_audited_with_the_admins_id(
    client: httpx.AsyncClient, admin: Account, customer: Account, container: Container
) -> None:
    await sign_in(client, admin)
    body = {"sku": "AUD-1", "name": "Audited", "price_minor": "250", "currency": "EUR"}
    created = await client.post(
        "/admin/item/create", data={**body, "stock": "3", "save": "Save"}, headers=ORIGIN
    )
    assert created.status_code == 302, created.text
    items, _ = await container.catalog.list_items(limit=10, offset=0)
    item = items[0]
    edited = await client.post(
        f"/admin/item/edit/{item.id}",
        data={**body, "price_minor": "300", "stock": "3", "save": "Save"},
        headers=ORIGIN,
    )
    assert edited.status_code == 302, edited.text
    deleted = await client.delete(f"/admin/item/delete?pks={item.id}", headers=ORIGIN)
    assert deleted.status_code == 200
    restored = await client.post(f"/admin/item/act/{item.id}/restore", headers=ORIGIN)
    assert restored.status_code == 303
    user_edit = await client.post(
        f"/admin/user/edit/{customer.user.id}",
        data={"role": "customer", "save": "Save"},  # is_active unticked: deactivated
        headers=ORIGIN,
    )
    assert user_edit.status_code == 302, user_edit.text

    rows = await audit_rows(container)
    assert [row.action for row in rows] == [
        "item.create", "item.update", "item.delete", "item.restore", "user.change_access",
    ]  # fmt: skip
    assert {row.admin_id for row in rows} == {admin.user.id}
    assert rows[1].details == {"price_minor": 300}
    assert (await container.catalog.get_item(item_id=item.id)).price_minor == 300
    deactivated = await container.users.get_user(user_id=customer.user.id)
    assert not deactivated.is_active
    assert deactivated.token_version == customer.user.token_version + 1  # tokens revoked


async def test_an_admin_whose_access_is_revoked_is_signed_out(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    await sign_in(client, admin)
    assert (await client.get("/admin/order/list")).status_code == 200
    other = await container.users.register(
        email="root@example.com", password="another-passphrase", full_name="Root", role=Role.ADMIN
    )
    await container.users.change_access(actor=other, user_id=admin.user.id, role=Role.CUSTOMER)
    answer = await client.get("/admin/order/list")
    assert answer.status_code == 302
    assert answer.headers["location"].endswith("/admin/login")


async def test_bad_item_input_is_shown_and_writes_nothing(
    client: httpx.AsyncClient, admin: Account, container: Container
) -> None:
    await sign_in(client, admin)
    for bad in (
        {"sku": "OK-1", "name": "x\x00y", "price_minor": "1", "currency": "EUR"},
        {"sku": "OK-1", "name": "Fine", "price_minor": "1", "currency": "XXQ"},
        {"sku": "!", "name": "Fine", "price_minor": "1", "currency": "EUR"},
    ):
        answer = await client.post(
            "/admin/item/create", data={**bad, "stock": "1", "save": "Save"}, headers=ORIGIN
        )
        assert answer.status_code == 400, bad
        assert "alert-danger" in answer.text or "invalid-feedback" in answer.text
    assert (await container.catalog.list_items(limit=10, offset=0))[1] == 0
    assert await audit_rows(container) == []
