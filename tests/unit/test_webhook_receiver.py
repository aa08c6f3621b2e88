"""The fake webhook receiver the e2e tests run as a process, in process here: it verifies
what orderly signs (during a rotation too), refuses a forgery, and answers as it is told
(failures first, Retry-After, gone), counting deliveries per webhook-id."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from orderly.fakes.webhook_receiver import create_receiver_app
from orderly.integrations.webhooks import new_secret, sign


def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_receiver_app())
    return httpx.AsyncClient(transport=transport, base_url="http://receiver")


def signed(secrets: list[str], webhook_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(secrets, webhook_id=webhook_id, timestamp=now, body=body),
        "content-type": "application/json",
    }


async def test_signed_deliveries_are_verified_and_forgeries_refused() -> None:
    old, new = new_secret(), new_secret()
    body = '{"type": "order.paid"}'
    async with client() as http:
        assert (await http.post("/_control", json={"path": "/hook", "secrets": [new]})).is_success
        rotating = await http.post("/hook", content=body, headers=signed([old, new], "msg_1", body))
        forged = await http.post("/hook", content=body, headers=signed([old], "msg_2", body))
        tampered = await http.post("/hook", content=body + " ", headers=signed([new], "m3", body))
        stats = (await http.get("/_stats", params={"path": "/hook"})).json()["paths"]["/hook"]
    assert (rotating.status_code, forged.status_code, tampered.status_code) == (200, 401, 401)
    assert (stats["requests"], stats["verified"], stats["by_id"]) == (3, 1, {"msg_1": 1})
    assert [r["verified"] for r in stats["received"]] == [True, False, False]


async def test_the_receiver_fails_first_then_accepts_and_can_be_gone() -> None:
    async with client() as http:
        await http.post("/_control", json={"fail_first": 2, "fail_status": 503, "retry_after": "7"})
        answers = [
            await http.post("/any", content="{}", headers={"webhook-id": "m"}) for _ in "abc"
        ]
        assert [a.status_code for a in answers] == [503, 503, 200]
        assert answers[0].headers["Retry-After"] == "7"
        await http.post("/_control", json={"path": "/old", "gone": True})
        assert (await http.post("/old", content="{}")).status_code == 410
        refused = await http.post("/_control", json={"path": "/x", "bogus": 1})
        assert refused.status_code == 400
        assert (await http.post("/_control", json=[1])).status_code == 400
        assert (await http.get("/_health")).json() == {"status": "ok"}
        by_id = (await http.get("/_stats")).json()["paths"]["/any"]["by_id"]
    assert by_id == {"m": 1}  # only the accepted delivery counts
