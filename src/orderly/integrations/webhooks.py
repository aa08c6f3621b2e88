"""Sending a webhook: Standard Webhooks signatures, the SSRF guard, one HTTP attempt.

The guard checks a URL when it is registered and again at every attempt, against the
address the request actually goes to: the sender resolves the host itself, refuses it if
any of its addresses is not allowed, and connects to the checked address (the ``Host``
header and TLS SNI keep the name, so certificates are verified for it). No redirect is
followed; at most 1 KiB of the answer is read.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from time import perf_counter

import httpx
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
RESPONSE_LIMIT = 1024
IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
# Cloud instance-metadata services that are not already link-local or private.
METADATA_ADDRESSES = frozenset({ip_address("100.100.100.200"), ip_address("fd00:ec2::254")})


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, as Standard Webhooks receivers expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(signing_secrets: list[str], *, webhook_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated (two
    during a rotation's overlap). ``body`` is the exact text sent, ``timestamp`` in UTC."""
    at = timestamp.astimezone(UTC)
    return " ".join(Webhook(key).sign(webhook_id, at, body) for key in signing_secrets)


class AddressRefused(Exception):
    """The URL may not be called: wrong scheme, credentials in it, or an address that is
    not public (loopback, private, link-local, multicast, reserved, cloud metadata)."""


def is_public(address: IPAddress) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and address not in METADATA_ADDRESSES
    )


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class Target:
    """Where an attempt goes: the checked address in the URL, the name in Host and SNI."""

    url: httpx.URL
    host: str
    host_header: str


@dataclass(frozen=True)
class AddressPolicy:
    require_https: bool
    allowed_networks: tuple[Network, ...] = ()
    resolver: Resolver = system_resolver

    def allows(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed_networks):
            return True
        return is_public(address)

    def check_form(self, url: str) -> httpx.URL:
        """The URL's own form: scheme, host, no credentials (no lookup)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise AddressRefused("it is malformed") from exc
        allowed = ("https",) if self.require_https else ("http", "https")
        if parsed.scheme not in allowed:
            raise AddressRefused(f"it must use {' or '.join(allowed)}")
        if not parsed.host:
            raise AddressRefused("it names no host")
        if parsed.userinfo:
            raise AddressRefused("it must not carry credentials")
        return parsed

    async def resolve(self, url: str) -> Target:
        """The address to connect to; refuses the URL if any address of its host is not
        allowed (a name that also resolves to a private address is refused whole)."""
        parsed = self.check_form(url)
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = [ip_address(host)]
        except ValueError:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise AddressRefused(f"host {host} does not resolve") from exc
        if not addresses:
            raise AddressRefused(f"host {host} does not resolve")
        for address in addresses:
            if not self.allows(address):
                named = (
                    f"{address} is" if host == str(address) else f"{host} resolves to {address},"
                )
                raise AddressRefused(
                    f"{named} not a public address (webhooks may not reach loopback, "
                    "private, link-local, multicast, reserved or cloud-metadata addresses)"
                )
        host_header = host if parsed.port is None else f"{host}:{parsed.port}"
        if isinstance(addresses[0], IPv6Address):
            host_header = f"[{host}]" if parsed.port is None else f"[{host}]:{parsed.port}"
        return Target(parsed.copy_with(host=str(addresses[0])), host, host_header)


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration: float  # seconds
    response: str | None = None  # the first KiB of the answer
    error: str | None = None  # no answer: why
    retry_after: float | None = None  # seconds, from the answer's Retry-After

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    def __init__(
        self,
        *,
        policy: AddressPolicy,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            follow_redirects=False, timeout=timeout, transport=transport, trust_env=False
        )

    @property
    def policy(self) -> AddressPolicy:
        return self._policy

    async def send(self, url: str, *, headers: dict[str, str], body: bytes) -> AttemptResult:
        """One POST of ``body``; never raises for what the peer does (the result says)."""
        started = perf_counter()

        def result(**fields: object) -> AttemptResult:
            return AttemptResult(duration=perf_counter() - started, **fields)  # type: ignore[arg-type]

        try:
            async with asyncio.timeout(self._timeout):
                target = await self._policy.resolve(url)
                request = self._http.build_request(
                    "POST",
                    target.url,
                    content=body,
                    headers={
                        **headers,
                        "Host": target.host_header,
                        "Content-Type": "application/json",
                        "Accept-Encoding": "identity",  # read raw: no decompression bomb
                        "User-Agent": "orderly-webhooks",
                    },
                    extensions={"sni_hostname": target.host},
                )
                response = await self._http.send(request, stream=True)
                try:
                    excerpt = await _first_bytes(response, RESPONSE_LIMIT)
                finally:
                    await response.aclose()
        except AddressRefused as exc:
            return result(status_code=None, error=f"refused: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return result(status_code=None, error=f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return result(status_code=None, error=f"{type(exc).__name__}: {exc}"[:500])
        return result(
            status_code=response.status_code,
            response=excerpt.decode("utf-8", "replace"),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    async def aclose(self) -> None:
        await self._http.aclose()


async def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    if response.is_stream_consumed:  # a transport that read it already (httpx.MockTransport)
        return response.content[:limit]
    read = b""
    async for chunk in response.aiter_raw():
        read += chunk
        if len(read) >= limit:
            break
    return read[:limit]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
