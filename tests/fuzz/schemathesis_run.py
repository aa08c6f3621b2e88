"""Schemathesis over orderly's whole OpenAPI document, in process, with every check it has.

The engine is the one behind ``schemathesis run``: its examples, coverage, fuzzing and
stateful phases, the responses checked for status, content type, headers and schema, data
that must be refused or accepted, ignored authentication, use after delete, resources that
must be there after they were created, and object-level authorization between two
customers. It serves the app through its own ASGI client on its own thread and event loop
(lifespan included), so the app given to it must be a fresh one that nothing else uses.

Identities come as a Web Fuzzing Commons document: two customers (``alice``, ``bob``, peers
who must not see each other's objects) and an admin. Schemathesis tries them in order per
operation and keeps the first one admitted, so admin routes end up fuzzed as the admin after
being refused to the customers (and to no credentials at all).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi

from orderly.container import Container
from orderly.core.config import Settings
from orderly.models import Role
from orderly.services.orders import NewLine
from tests.conftest import PASSWORD

IDENTITIES = (("alice", Role.CUSTOMER), ("bob", Role.CUSTOMER), ("admin", Role.ADMIN))
PEERS = ["alice", "bob"]

# Statuses a schema-valid request may get: the rules below need data the schema cannot
# express, so a valid-looking request can still be a 422 naming the rule (each named).
ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]
RULES_BEYOND_THE_SCHEMA = {
    ("POST", "/api/v1/auth/register"): "weak-password: at least 4 different characters",
    ("PATCH", "/api/v1/users/me"): "wrong-current-password: the current password must match",
    ("GET", "/api/v1/items"): "invalid-price-range: min_price <= max_price",
    ("GET", "/api/v2/items"): "invalid-cursor: a cursor comes from a previous page",
    ("GET", "/api/v2/orders"): "invalid-cursor: a cursor comes from a previous page",
    ("POST", "/api/v1/orders"): "item-unavailable: lines name items that are on sale",
    ("POST", "/api/v2/orders"): "item-unavailable: lines name items that are on sale",
    ("POST", "/api/v1/reports/sales"): "invalid-report-range: at most 366 days, from <= to",
    ("POST", "/api/v1/webhooks/endpoints"): "webhook-url-refused: public http(s) hosts only",
    ("PATCH", "/api/v1/webhooks/endpoints/{endpoint_id}"): "webhook-url-refused: as above",
}
# Checks that do not apply to an operation, and why.
CHECKS_OFF = {
    # Soft delete by design: the item leaves the catalog (GET is 404) but an admin can still
    # edit it, and PATCH {"is_active": true} restores it.
    ("DELETE", "/api/v1/items/{item_id}"): ["use_after_free"],
}


def streaming_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Operations answering text/event-stream: a stream ends only when the client leaves, so
    one call would take the whole budget (WebSockets are not in the OpenAPI document)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            contents = operation.get("responses", {}).get("200", {}).get("content", {})
            if "text/event-stream" in contents:
                found.append((method.upper(), path))
    return found


def config(
    *, wfc_path: Path, app: FastAPI, seed: int, max_examples: int, max_time: int | None = None
) -> schemathesis.Config:
    """``max_examples`` per operation and phase; without ``max_time`` every phase runs once
    (a run as long as its examples), with it fuzzing and stateful testing repeat until then."""
    operations: list[dict[str, Any]] = [
        {"include-method": m, "include-path": p, "enabled": False}
        for m, p in streaming_operations(app)
    ]
    for (method, path), _reason in RULES_BEYOND_THE_SCHEMA.items():
        statuses = [*ACCEPTED, "422"]
        checks = {"positive_data_acceptance": {"expected-statuses": statuses}}
        operations.append({"include-method": method, "include-path": path, "checks": checks})
    for (method, path), names in CHECKS_OFF.items():
        off = {name: {"enabled": False} for name in names}
        operations.append({"include-method": method, "include-path": path, "checks": off})
    limits = {} if max_time is None else {"max-time": max_time}
    return schemathesis.Config.from_dict(
        {
            **limits,
            "seed": seed,
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": True},
            "phases": {"stateful": {"max-steps": 20}},
            "auth": {"wfc": {"path": str(wfc_path), "peers": PEERS}},
            "operations": operations,
        }
    )


async def create_identities(settings: Settings) -> dict[str, str]:
    """The three accounts, registered through the service, an item on sale and an order of
    each customer's (ids for the fuzzer to pick up from listings); access tokens by name."""
    container = Container.build(settings)
    tokens = {}
    try:
        for name, role in IDENTITIES:
            email = f"{name}@example.com"
            user = await container.users.register(
                email=email, password=PASSWORD, full_name=name.title(), role=role
            )
            pair = await container.users.log_in(email=email, password=PASSWORD)
            tokens[name] = pair.access_token
            if role is Role.CUSTOMER:
                item = await container.catalog.create_item(
                    sku=f"SEED-{name}",
                    name=f"{name}'s lamp",
                    price_minor=990,
                    currency="EUR",
                    stock=1000,
                )
                line = NewLine(item_id=item.id, quantity=1)
                await container.orders.place(customer=user, lines=[line])
    finally:
        await container.close()
    PEER_TOKEN.clear()
    for owner, peer in (("alice", "bob"), ("bob", "alice")):
        PEER_TOKEN[f"Bearer {tokens[owner]}"] = f"Bearer {tokens[peer]}"
    return tokens


# The other customer's Authorization header, by a customer's (set by create_identities).
PEER_TOKEN: dict[str, str] = {}


@schemathesis.check
def orders_stay_with_their_owner(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """What a customer did to one of their orders (read it, its timeline, pay, cancel) is a
    404 to the other customer, as if the order did not exist (OWASP API1). Schemathesis's own
    object_level_authorization check only replays reads whose owner it could work out."""
    order_id = (case.path_parameters or {}).get("order_id")
    peer = PEER_TOKEN.get(str(response.request.headers.get("Authorization", "")))
    if order_id is None or peer is None or not 200 <= response.status_code < 300:
        return None
    replay = case.call(headers={"Authorization": peer})
    if replay.status_code != 404:
        raise AssertionError(
            f"The other customer got {replay.status_code} for {case.method} "
            f"{case.formatted_path}, which its owner got {response.status_code} for"
        )
    return True


def write_wfc_document(tokens: dict[str, str], path: Path) -> Path:
    entries = [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in tokens.items()
    ]
    path.write_text(json.dumps({"auth": entries}))
    return path


@dataclass
class Finding:
    check: str
    operation: str
    title: str
    message: str
    reproduce: str

    def __str__(self) -> str:
        return f"{self.check} on {self.operation}: {self.title}\n{self.message}\n{self.reproduce}"


@dataclass
class Outcome:
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    checks_run: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    requests: int = 0


def run(app: FastAPI, settings: schemathesis.Config) -> Outcome:
    """Load the document from the app, run every phase, and collect what failed."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=settings)
    outcome = Outcome()
    try:
        for event in from_schema(schema).execute():
            _record(event, outcome)
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan ends: engine disposed, runner stopped
    return outcome


def _record(event: events.EngineEvent, outcome: Outcome) -> None:
    if isinstance(event, events.ScenarioFinished):
        outcome.requests += len(event.recorder.interactions)
        for finding in _findings(event):
            outcome.findings.setdefault((finding.check, finding.operation, finding.title), finding)
        for checks in event.recorder.checks.values():
            outcome.checks_run.update(check.name for check in checks)
    elif isinstance(event, events.NonFatalError):
        outcome.errors.append(f"{event.label}: {event.info.message}")
    elif isinstance(event, events.FatalError):
        outcome.errors.append(f"fatal: {event.exception!r}")


def _findings(event: events.ScenarioFinished) -> Iterator[Finding]:
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            yield Finding(
                check=check.name,
                operation=failure.operation or "",
                title=failure.title or "",
                message=failure.message,
                reproduce=check.failure_info.code_sample,
            )
