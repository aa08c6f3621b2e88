"""Live order status over a WebSocket, ``/api/v1/ws``: the same snapshots and changes as the
SSE streams, for as many orders (and the all-orders feed) as the client subscribes to.

Client messages (JSON text, ``schemas/live.py``):
- ``{"type": "auth", "token": "<access token>"}``: first, within ``ORDERLY_LIVE_AUTH_TIMEOUT``
  seconds; answered ``{"type": "authenticated"}``.
- ``{"type": "subscribe", "topic": "order:<id>", "last_event_id": "2"}`` or
  ``{"type": "subscribe", "topic": "orders", "status": "paid", "user_id": ...,
  "last_event_id": ...}`` (``status``, ``user_id`` and ``last_event_id`` optional;
  ``user_id`` for admins).
- ``{"type": "unsubscribe", "topic": ...}`` (answered ``{"type": "unsubscribed", ...}``),
  ``{"type": "ping"}`` (answered ``{"type": "pong"}``).

Server messages: ``{"type": "snapshot" | "change", "topic": ..., "id": ..., "data": {...}}``,
``id`` and ``data`` exactly as the SSE stream of that topic sends them; ``{"type": "ping"}``
after ``ORDERLY_LIVE_HEARTBEAT`` seconds without a message.

Close codes (the close reason says more):
- 4400 invalid message (not JSON, unknown type, bad topic or last_event_id)
- 4401 bad token (missing, invalid, expired, revoked) or no ``auth`` message in time
- 4403 forbidden subscription (a customer asking for another user's orders feed)
- 4404 unknown order (or another user's: ids are not confirmed to strangers, like the 404)
- 4408 slow client (its queue filled up; reconnect and resubscribe with the last ids)
- 4429 too many connections (per user or per process), or subscriptions on this connection
- 4500 unavailable (the database could not be read; reconnect)
- 4503 server shutting down (reconnect, to another process or shortly)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from orderly.api.live_feeds import Feed, OrderFeed, OrdersFeed, Outgoing
from orderly.container import Container
from orderly.core.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from orderly.events.live import (
    MESSAGES_SENT,
    Closed,
    Connection,
    Delivery,
    Message,
    Subscription,
    TooManyStreams,
)
from orderly.models import User
from orderly.schemas.live import (
    CLIENT_MESSAGE,
    ORDER_TOPIC_PREFIX,
    ORDERS_TOPIC,
    Authenticate,
    Ping,
    Subscribe,
    order_topic,
)
from orderly.services.live_status import FeedFilter, FeedPosition

log = structlog.get_logger(__name__)
router = APIRouter(tags=["live"])

INVALID_MESSAGE = 4400
BAD_TOKEN = 4401
FORBIDDEN = 4403
UNKNOWN_ORDER = 4404
SLOW_CLIENT = 4408
TOO_MANY = 4429
UNAVAILABLE = 4500
SHUTTING_DOWN = 4503
CLOSED_BY_SERVER = {"slow-client": SLOW_CLIENT, "shutting-down": SHUTTING_DOWN}
MAX_MESSAGE = 8192


class CloseSocket(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse(text: str) -> Any:
    if len(text) > MAX_MESSAGE:
        raise CloseSocket(INVALID_MESSAGE, f"messages are at most {MAX_MESSAGE} characters")
    try:
        return CLIENT_MESSAGE.validate_json(text)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise CloseSocket(INVALID_MESSAGE, f"{where}: {problem['msg']}"[:120]) from None


@router.websocket("/ws")
async def live_socket(websocket: WebSocket) -> None:
    container: Container = websocket.app.state.container
    await websocket.accept()
    session: LiveSocket | None = None
    try:
        try:
            with container.live.handshake():
                user = await authenticate(websocket, container)
            connection = container.live.connect(user_id=user.id, transport="ws")
        except TooManyStreams as error:
            raise CloseSocket(TOO_MANY, str(error)) from None
        session = LiveSocket(websocket, container, user, connection)
        await session.run()
    except CloseSocket as close:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(close.code, close.reason)
    except WebSocketDisconnect:
        pass
    finally:
        if session is not None:
            container.live.disconnect(session.connection)


async def authenticate(websocket: WebSocket, container: Container) -> User:
    try:
        async with asyncio.timeout(container.settings.live_auth_timeout):
            text = await receive(websocket)
    except TimeoutError:
        raise CloseSocket(BAD_TOKEN, "authenticate within the first seconds") from None
    message = parse(text)
    if not isinstance(message, Authenticate):
        raise CloseSocket(BAD_TOKEN, 'the first message is {"type": "auth", "token": ...}')
    try:
        user = await container.users.authenticate(access_token=message.token)
    except Unauthorized as error:
        raise CloseSocket(BAD_TOKEN, str(error)[:120]) from None
    await websocket.send_json({"type": "authenticated"})
    return user


async def receive(websocket: WebSocket) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        raise CloseSocket(INVALID_MESSAGE, "messages are JSON text")
    return str(text)


class LiveSocket:
    def __init__(
        self, websocket: WebSocket, container: Container, user: User, connection: Connection
    ) -> None:
        self.websocket = websocket
        self.container = container
        self.user = user
        self.connection = connection
        self.topics: dict[str, Subscription] = {}
        self.feeds: dict[Subscription, tuple[str, Feed]] = {}

    async def run(self) -> None:
        heartbeat = self.container.settings.live_heartbeat
        incoming = asyncio.ensure_future(receive(self.websocket))
        changes = asyncio.ensure_future(self.connection.next())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {incoming, changes}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    await self.websocket.send_json({"type": "ping"})
                if changes in done:
                    await self.on_message(changes.result())
                    changes = asyncio.ensure_future(self.connection.next())
                if incoming in done:
                    await self.on_request(parse(incoming.result()))
                    incoming = asyncio.ensure_future(receive(self.websocket))
        finally:
            for task in (incoming, changes):
                task.cancel()

    async def on_request(self, message: Any) -> None:
        if isinstance(message, Ping):
            await self.websocket.send_json({"type": "pong"})
        elif isinstance(message, Subscribe):
            await self.subscribe(message)
        elif isinstance(message, Authenticate):
            raise CloseSocket(INVALID_MESSAGE, "already authenticated")
        else:
            subscription = self.topics.pop(message.topic, None)
            if subscription is not None:
                self.connection.unwatch(subscription)
                del self.feeds[subscription]
            await self.websocket.send_json({"type": "unsubscribed", "topic": message.topic})

    async def subscribe(self, message: Subscribe) -> None:
        topic = message.topic
        if topic != ORDERS_TOPIC:  # the canonical spelling, as messages echo it
            topic = order_topic(uuid.UUID(topic.removeprefix(ORDER_TOPIC_PREFIX)))
        if topic in self.topics:
            raise CloseSocket(INVALID_MESSAGE, f"already subscribed to {topic}")
        if len(self.topics) >= self.container.settings.live_max_subscriptions:
            raise CloseSocket(TOO_MANY, "too many subscriptions on this connection")
        live = self.container.live_status
        try:
            if topic == ORDERS_TOPIC:
                feed_filter = FeedFilter.for_actor(
                    self.user, status=message.status, user_id=message.user_id
                )
                after = message.last_event_id
                subscription = self.connection.watch_orders(
                    owner=feed_filter.owner, statuses=feed_filter.statuses
                )
                feed: Feed = OrdersFeed(
                    live=live,
                    feed=feed_filter,
                    after=None if after is None else FeedPosition.parse(after),
                )
            else:
                order_id = uuid.UUID(topic.removeprefix(ORDER_TOPIC_PREFIX))
                subscription = self.connection.watch_order(order_id)
                feed = OrderFeed(
                    live=live, user=self.user, order_id=order_id, after=position(message)
                )
            self.topics[topic] = subscription
            self.feeds[subscription] = (topic, feed)
            await self.send(topic, await feed.open())
        except Forbidden as error:
            raise CloseSocket(FORBIDDEN, str(error)[:120]) from None
        except NotFound as error:
            raise CloseSocket(UNKNOWN_ORDER, str(error)[:120]) from None
        except Unprocessable as error:
            raise CloseSocket(INVALID_MESSAGE, str(error)[:120]) from None
        except (CloseSocket, WebSocketDisconnect):
            raise
        except Exception:
            log.warning("live_socket_read_failed", exc_info=True)
            raise CloseSocket(UNAVAILABLE, "unavailable") from None

    async def on_message(self, message: Message) -> None:
        if isinstance(message, Closed):
            raise CloseSocket(CLOSED_BY_SERVER.get(message.reason, UNAVAILABLE), message.reason)
        try:
            if isinstance(message, Delivery):
                if message.subscription in self.feeds:
                    topic, feed = self.feeds[message.subscription]
                    await self.send(topic, await feed.on_change(message.change))
            else:
                for topic, feed in list(self.feeds.values()):
                    await self.send(topic, await feed.refresh())
        except WebSocketDisconnect:
            raise
        except Exception:
            log.warning("live_socket_read_failed", exc_info=True)
            raise CloseSocket(UNAVAILABLE, "unavailable") from None

    async def send(self, topic: str, items: list[Outgoing]) -> None:
        for item in items:
            text = json.dumps(
                {"type": item.event, "topic": topic, "id": item.id, "data": item.data}
            )
            await self.websocket.send_text(text)
        MESSAGES_SENT.labels("ws").inc(len(items))


def position(message: Subscribe) -> int | None:
    if message.last_event_id is None:
        return None
    if not message.last_event_id.isdigit():
        raise CloseSocket(INVALID_MESSAGE, "last_event_id of an order is its timeline position")
    return int(message.last_event_id)
