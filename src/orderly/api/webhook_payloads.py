"""The OpenAPI document's ``webhooks`` section: every request orderly sends to a webhook
endpoint, one per event type, its body schema derived from the event class itself."""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field, create_model

from orderly.events.types import Event
from orderly.events.webhooks import ENVELOPE_FIELDS, WEBHOOK_EVENTS

DESCRIPTION = """Sent as `POST` with a JSON body to every enabled endpoint subscribed to
`{name}`, following the Standard Webhooks specification: `webhook-id` is the same on every
attempt and replay (use it to drop duplicates), `webhook-signature` is `v1,<base64 HMAC-SHA256>`
of `{{webhook-id}}.{{webhook-timestamp}}.{{body}}` with the endpoint's secret (two signatures,
space-separated, while a rotated secret still signs). Answer 2xx within 10 s; anything else
is retried with exponential backoff for about a day; 410 disables the endpoint."""


def payload_model(name: str, kind: type[Event]) -> type[BaseModel]:
    """``{"type": name, "timestamp": ..., "data": {the event's public fields}}``."""
    hints = typing.get_type_hints(kind)
    data: dict[str, Any] = {
        item.name: (hints[item.name], ... if item.default is dataclasses.MISSING else item.default)
        for item in dataclasses.fields(kind)
        if item.name not in ENVELOPE_FIELDS
    }
    title = "".join(part.title() for part in name.replace(".", "_").split("_"))
    data_model = create_model(f"{title}Data", **data)
    return create_model(
        f"{title}Webhook",
        type=(Literal[name], ...),  # type: ignore[arg-type]
        timestamp=(datetime, Field(description="when the event happened (UTC)")),
        data=(data_model, ...),
    )


def document_webhooks(app: FastAPI) -> None:
    for name, kind in WEBHOOK_EVENTS.items():
        app.webhooks.post(
            name, summary=f"{name} ({kind.__name__})", description=DESCRIPTION.format(name=name)
        )(_receiver(payload_model(name, kind)))


def _receiver(model: type[BaseModel]) -> Any:
    """An operation that takes ``model`` as its body, with the signature headers."""

    async def receive(
        body: BaseModel,
        webhook_id: Annotated[str, Header(alias="webhook-id")],
        webhook_timestamp: Annotated[int, Header(alias="webhook-timestamp")],
        webhook_signature: Annotated[str, Header(alias="webhook-signature")],
    ) -> None:
        """Documentation only: orderly sends this request, it does not serve it."""

    receive.__annotations__ = {**typing.get_type_hints(receive, include_extras=True), "body": model}
    return receive
