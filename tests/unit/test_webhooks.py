"""Webhook rules on their own: signatures, the SSRF guard, the retry schedule, Retry-After,
and what an answer does to a delivery and its endpoint (in-memory unit of work, an httpx
mock transport as the receiver)."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, ip_address

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from orderly.core.config import Settings
from orderly.events.types import Actor, ActorKind, OrderPaid, WebhookEndpointDisabled
from orderly.integrations.webhooks import (
    AddressPolicy,
    AddressRefused,
    IPAddress,
    WebhookSender,
    new_secret,
    parse_retry_after,
    sign,
)
from orderly.models import WebhookEndpoint
from orderly.models.webhook import DeliveryStatus
from orderly.services.webhook_delivery import RetrySchedule, WebhookDeliveries
from tests.unit.fakes import FakeUnitOfWork

DNS = {"hooks.example": ["93.184.216.34"], "internal.example": ["10.0.0.1"]}
DNS["sneaky.example"] = ["93.184.216.34", "10.0.0.1"]


async def stub_resolver(host: str, port: int) -> list[IPAddress]:
    if host not in DNS:
        raise OSError(f"unknown host {host}")
    return [ip_address(a) for a in DNS[host]]


PRODUCTION = AddressPolicy(require_https=True, resolver=stub_resolver)
DEVELOPMENT = AddressPolicy(
    require_https=False, allowed_networks=(IPv4Network("127.0.0.0/8"),), resolver=stub_resolver
)


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second


def test_the_signature_verifies_with_each_secret_and_not_for_other_bytes() -> None:
    old, new = new_secret(), new_secret()
    at = datetime.now(UTC)
    body = '{"type":"order.paid","data":{"note":"caf\u00e9"}}'
    header = sign([new, old], webhook_id="msg_1", timestamp=at, body=body)
    assert header.count("v1,") == 2
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": header,
    }
    for secret in (old, new):
        assert Webhook(secret).verify(body.encode(), headers)["type"] == "order.paid"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body.encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("paid", "fulfilled").encode(), headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",  # not https, and loopback
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "https://internal.example/hook",  # resolves to 10.0.0.1
        "https://sneaky.example/hook",  # one of its addresses is private
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://224.0.0.1/",  # multicast
        "https://100.100.100.200/",  # a cloud's metadata service outside link-local
        "https://0.0.0.0/",
        "https://user:pw@hooks.example/",  # credentials in the URL
        "https://nowhere.example/",  # does not resolve
        "ftp://hooks.example/",
    ],
)
async def test_production_refuses_addresses_that_are_not_public(url: str) -> None:
    with pytest.raises(AddressRefused):
        await PRODUCTION.resolve(url)


async def test_the_request_goes_to_the_checked_address_with_the_name_in_host() -> None:
    target = await PRODUCTION.resolve("https://hooks.example:8443/in?x=1")
    assert str(target.url) == "https://93.184.216.34:8443/in?x=1"
    assert (target.host, target.host_header) == ("hooks.example", "hooks.example:8443")


async def test_development_allows_loopback_over_http_but_nothing_else_private() -> None:
    target = await DEVELOPMENT.resolve("http://127.0.0.1:8200/hook")
    assert target.url.host == "127.0.0.1"
    for url in ("http://10.0.0.1/", "http://internal.example/", "http://169.254.169.254/"):
        with pytest.raises(AddressRefused):
            await DEVELOPMENT.resolve(url)


def test_the_default_schedule_is_exponential_capped_and_reaches_about_a_day() -> None:
    settings = Settings(_env_file=None)
    schedule = RetrySchedule(
        initial=settings.webhook_retry_initial,
        factor=settings.webhook_retry_factor,
        max_delay=settings.webhook_retry_max_delay,
        max_attempts=settings.webhook_max_attempts,
    )
    assert 20 * 3600 <= schedule.reach() <= 30 * 3600
    rng = random.Random(1)
    delays = [schedule.delay_after(n, rng=rng) for n in range(1, settings.webhook_max_attempts)]
    nominal = [min(8 * 3600, 5 * 4 ** (n - 1)) for n in range(1, settings.webhook_max_attempts)]
    for delay, expected in zip(delays, nominal, strict=True):
        assert delay is not None
        assert expected * 0.8 <= delay <= expected * 1.2
    assert len({round(d or 0, 6) for d in delays}) == len(delays)  # jittered, not fixed
    assert schedule.delay_after(settings.webhook_max_attempts) is None  # given up


def test_retry_after_is_honoured_up_to_the_longest_delay() -> None:
    schedule = RetrySchedule(initial=1, factor=2, max_delay=60, max_attempts=5, jitter=0)
    assert schedule.delay_after(1, retry_after=30) == 30
    assert schedule.delay_after(1, retry_after=0) == 1
    assert schedule.delay_after(1, retry_after=86400) == 60
    assert parse_retry_after("120") == 120
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 27 Nov 2026 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- answers, with the in-memory unit of work -----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def paid(order_id: uuid.UUID) -> OrderPaid:
    return OrderPaid(
        order_id=order_id,
        user_id=uuid.uuid4(),
        sequence=2,
        actor=Actor(ActorKind.WORKER),
        from_status="pending_payment",
        to_status="paid",
        payment_reference="pi_1",
    )


def deliveries(
    uow: FakeUnitOfWork, answer: httpx.Response, clock: Clock, requests: list[httpx.Request]
) -> WebhookDeliveries:
    def receive(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    sender = WebhookSender(policy=PRODUCTION, timeout=5, transport=httpx.MockTransport(receive))
    return WebhookDeliveries(
        uow,
        sender=sender,
        schedule=RetrySchedule(initial=10, factor=2, max_delay=100, max_attempts=3, jitter=0),
        lease=timedelta(seconds=30),
        disable_after=timedelta(hours=1),
        batch_size=10,
        clock=clock,
    )


def endpoint(uow: FakeUnitOfWork) -> WebhookEndpoint:
    registered = WebhookEndpoint.register(
        url="https://hooks.example/in",
        description="",
        event_types=["order.paid"],
        secret=new_secret(),
        enabled=True,
    )
    uow.webhooks.add(registered)
    return registered


async def test_a_2xx_delivers_a_signed_request_to_the_checked_address() -> None:
    uow, clock = FakeUnitOfWork(), Clock()
    requests: list[httpx.Request] = []
    hook = endpoint(uow)
    sending = deliveries(uow, httpx.Response(204), clock, requests)
    assert await sending.fan_out(paid(uuid.uuid4())) == 1
    assert await sending.fan_out(paid(uuid.uuid4())) == 1
    assert await sending.send_due() == 2
    request = requests[0]
    assert request.url.host == "93.184.216.34"
    assert request.headers["host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert Webhook(hook.secret).verify(request.content, dict(request.headers))["type"] == (
        "order.paid"
    )
    assert {d.status for d in uow.webhooks.rows.values()} == {DeliveryStatus.DELIVERED}
    assert [a.status_code for a in uow.webhooks.attempt_log] == [204, 204]


async def test_the_same_event_twice_makes_one_delivery() -> None:
    uow, clock = FakeUnitOfWork(), Clock()
    endpoint(uow)
    sending = deliveries(uow, httpx.Response(200), clock, [])
    event = paid(uuid.uuid4())
    assert [await sending.fan_out(event), await sending.fan_out(event)] == [1, 0]


async def test_410_disables_the_endpoint_fails_what_waited_and_tells_the_admins() -> None:
    uow, clock = FakeUnitOfWork(), Clock()
    hook = endpoint(uow)
    sending = deliveries(uow, httpx.Response(410), clock, [])
    await sending.fan_out(paid(uuid.uuid4()))
    assert await sending.send_due() == 1
    await sending.fan_out(paid(uuid.uuid4()))  # disabled: no new delivery
    assert not hook.enabled
    assert hook.disabled_reason == "gone"
    assert [d.status for d in uow.webhooks.rows.values()] == [DeliveryStatus.FAILED]
    disabled = [e for e in uow.events if isinstance(e, WebhookEndpointDisabled)]
    assert [(e.endpoint_id, e.reason) for e in disabled] == [(hook.id, "gone")]


async def test_a_failure_is_retried_on_schedule_honouring_retry_after_then_given_up() -> None:
    uow, clock = FakeUnitOfWork(), Clock()
    endpoint(uow)
    answer = httpx.Response(503, headers={"Retry-After": "45"}, content=b"x" * 5000)
    sending = deliveries(uow, answer, clock, [])
    await sending.fan_out(paid(uuid.uuid4()))
    (delivery,) = uow.webhooks.rows.values()
    started = clock.now
    assert await sending.send_due() == 1
    assert delivery.next_attempt_at == started + timedelta(seconds=45)  # not the 10 s due
    assert await sending.send_due() == 0  # not due yet
    clock.now += timedelta(seconds=45)
    assert await sending.send_due() == 1
    assert delivery.status is DeliveryStatus.PENDING
    clock.now += timedelta(seconds=45)
    assert await sending.send_due() == 1
    assert uow.webhooks.rows[delivery.id].status == DeliveryStatus.FAILED  # three in all
    log = uow.webhooks.attempt_log
    assert [a.number for a in log] == [1, 2, 3]
    assert {len(a.response or "") for a in log} == {1024}  # the first KiB of the answer


async def test_an_endpoint_failing_longer_than_allowed_is_disabled() -> None:
    uow, clock = FakeUnitOfWork(), Clock()
    hook = endpoint(uow)
    sending = deliveries(uow, httpx.Response(500), clock, [])
    await sending.fan_out(paid(uuid.uuid4()))
    await sending.send_due()
    assert hook.enabled
    assert hook.failing_since == clock.now
    clock.now += timedelta(hours=2)
    await sending.fan_out(paid(uuid.uuid4()))
    assert await sending.send_due() == 2
    assert not hook.enabled
    assert hook.disabled_reason == "failing"
    assert {d.status for d in uow.webhooks.rows.values()} == {DeliveryStatus.FAILED}
