"""One transaction per use case: the repositories share one session; only ``commit`` writes.

Entities record their own events (``RecordsEvents``); at commit the unit of work collects the
events of every entity it loaded or added and writes them to the outbox, and each order
event to its order's timeline, in the same transaction: an event (and a timeline entry)
exists if and only if its change committed.

Services depend on the ``UnitOfWork`` protocol, so unit tests pass in-memory fakes and the
API, the CLI and the workers pass ``SqlUnitOfWork``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orderly.core.database import SessionFactories
from orderly.core.errors import Conflict
from orderly.core.gate import ConnectionGate
from orderly.core.tracing import current_traceparent
from orderly.events.types import Event, OrderEvent
from orderly.models import (
    AccountToken,
    AdminAudit,
    AuthSession,
    Item,
    ItemFilter,
    ItemSort,
    ItemView,
    Order,
    OrderStatus,
    OrderView,
    OutboxMessage,
    Payment,
    RecoveryCode,
    SalesReport,
    TimelineEntry,
    TokenPurpose,
    User,
)
from orderly.models.base import Base, RecordsEvents, insert_row
from orderly.models.webhook import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orderly.projections import orders as order_projection
from orderly.repositories.accounts import AccountRepository, SignedInAccount
from orderly.repositories.audit import AuditRepository
from orderly.repositories.items import ItemRepository
from orderly.repositories.order_views import OrderViewRepository
from orderly.repositories.orders import OrderRepository
from orderly.repositories.outbox import OutboxRepository
from orderly.repositories.payments import PaymentRepository
from orderly.repositories.reports import ReportRepository
from orderly.repositories.users import UserRepository
from orderly.repositories.webhooks import WebhookRepository


class Users(Protocol):
    def add(self, user: User) -> None: ...
    async def get(self, user_id: uuid.UUID) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def count(self) -> int: ...
    async def active_admins(self) -> list[User]: ...
    async def totp_secrets(
        self, *, after: uuid.UUID, limit: int
    ) -> list[tuple[uuid.UUID, str]]: ...
    async def replace_totp_secret(self, user_id: uuid.UUID, old: str, new: str) -> bool: ...
    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]: ...


class Accounts(Protocol):
    def add(self, row: AuthSession | AccountToken | RecoveryCode) -> None: ...
    async def signed_in_user(self, user_id: uuid.UUID, session_id: uuid.UUID) -> User | None: ...
    async def signed_in_account(
        self, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> SignedInAccount | None: ...
    async def rotate_refresh(
        self,
        session_id: uuid.UUID,
        *,
        user_id: uuid.UUID,
        old_hash: str,
        new_hash: str,
        now: datetime,
    ) -> bool: ...
    async def revoke_session(
        self, session_id: uuid.UUID, *, user_id: uuid.UUID, reason: str, now: datetime
    ) -> bool: ...
    async def revoke_sessions(self, user_id: uuid.UUID, *, reason: str, now: datetime) -> int: ...
    async def token_by_hash(self, token_hash: str) -> AccountToken | None: ...
    async def use_token(self, token_id: uuid.UUID, *, now: datetime) -> bool: ...
    async def use_tokens(
        self, user_id: uuid.UUID, purpose: TokenPurpose, *, now: datetime
    ) -> None: ...
    async def last_token_at(self, user_id: uuid.UUID, purpose: TokenPurpose) -> datetime | None: ...
    async def replace_recovery_codes(self, user_id: uuid.UUID, code_hashes: list[str]) -> None: ...
    async def delete_recovery_codes(self, user_id: uuid.UUID) -> None: ...
    async def use_recovery_code(
        self, user_id: uuid.UUID, code_hash: str, *, now: datetime
    ) -> bool: ...
    async def recovery_codes_left(self, user_id: uuid.UUID) -> int: ...
    async def accept_totp_step(self, user_id: uuid.UUID, step: int) -> bool: ...
    async def count_failed_login(
        self, user_id: uuid.UUID, *, now: datetime, forget_before: datetime
    ) -> int: ...
    async def lock(self, user_id: uuid.UUID, *, until: datetime) -> None: ...
    async def clear_failures(self, user_id: uuid.UUID) -> None: ...


class Items(Protocol):
    def add(self, item: Item) -> None: ...
    async def get(self, item_id: uuid.UUID) -> Item | None: ...
    async def view(self, item_id: uuid.UUID) -> ItemView | None: ...
    async def get_by_sku(self, sku: str) -> Item | None: ...
    async def count(self) -> int: ...
    async def get_many(self, item_ids: list[uuid.UUID]) -> list[Item]: ...
    async def reserve_stock(self, item_id: uuid.UUID, quantity: int) -> bool: ...
    async def release_stock(self, item_id: uuid.UUID, quantity: int) -> None: ...
    async def search(
        self, *, criteria: ItemFilter, limit: int, offset: int, sort: ItemSort = ...
    ) -> tuple[list[ItemView], int]: ...
    async def search_after(
        self,
        *,
        criteria: ItemFilter,
        limit: int,
        sort: ItemSort = ...,
        after: tuple[Any, uuid.UUID] | None = ...,
    ) -> list[ItemView]: ...


class Orders(Protocol):
    def add(self, order: Order) -> None: ...
    async def get(self, order_id: uuid.UUID, *, with_timeline: bool = ...) -> Order | None: ...
    async def get_for_update(
        self, order_id: uuid.UUID, *, with_lines: bool = ...
    ) -> Order | None: ...
    async def get_by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None: ...
    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = ...,
        status: OrderStatus | None = ...,
    ) -> tuple[list[Order], int]: ...
    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = ...,
        status: OrderStatus | None = ...,
        after: tuple[datetime, uuid.UUID] | None = ...,
        with_timeline: bool = ...,
    ) -> list[Order]: ...
    async def pending_ids_before(self, cutoff: datetime, *, limit: int) -> list[uuid.UUID]: ...
    async def paid_between(self, start: datetime, end: datetime) -> list[Order]: ...
    async def feed_entries(
        self,
        *,
        user_id: uuid.UUID | None,
        to_status: str | None,
        after: tuple[datetime, uuid.UUID, int] | None,
        limit: int,
        newest_first: bool = ...,
    ) -> list[TimelineEntry]: ...


class OrderViews(Protocol):
    """The orders' read model (see ``orderly.projections.orders``)."""

    async def get(self, order_id: uuid.UUID) -> OrderView | None: ...
    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = ...,
        status: OrderStatus | None = ...,
    ) -> tuple[list[OrderView], int]: ...
    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = ...,
        status: OrderStatus | None = ...,
        after: tuple[datetime, uuid.UUID] | None = ...,
    ) -> list[OrderView]: ...
    async def timelines(
        self, order_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[TimelineEntry]]: ...


class Payments(Protocol):
    def add(self, payment: Payment) -> None: ...
    async def for_order(self, order_id: uuid.UUID) -> Payment | None: ...
    async def for_orders(self, order_ids: list[uuid.UUID]) -> list[Payment]: ...


class Reports(Protocol):
    def add(self, report: SalesReport) -> None: ...
    async def get(self, report_id: uuid.UUID) -> SalesReport | None: ...


class Outbox(Protocol):
    async def backlog(self) -> tuple[int, datetime | None]: ...
    async def is_processed(self, event_id: uuid.UUID, handler: str) -> bool: ...
    async def mark_processed(self, event_id: uuid.UUID, handler: str) -> None: ...
    async def mark_handled(self, event_id: uuid.UUID, *, at: datetime) -> None: ...
    async def make_due(self, event_id: uuid.UUID, *, at: datetime) -> bool: ...


class Audit(Protocol):
    def add(self, record: AdminAudit) -> None: ...


class Webhooks(Protocol):
    def add(self, endpoint: WebhookEndpoint) -> None: ...
    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None: ...
    async def get_for_update(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None: ...
    async def page(self, *, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]: ...
    async def subscribed_to(self, event_type: str) -> list[WebhookEndpoint]: ...
    async def delete(self, endpoint: WebhookEndpoint) -> None: ...
    async def add_deliveries(self, rows: list[dict[str, Any]]) -> int: ...
    async def get_delivery(
        self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, for_update: bool = ...
    ) -> WebhookDelivery | None: ...
    async def deliveries(
        self, endpoint_id: uuid.UUID, *, status: DeliveryStatus | None, limit: int, offset: int
    ) -> tuple[list[WebhookDelivery], int]: ...
    async def attempts(self, delivery_id: uuid.UUID) -> list[WebhookAttempt]: ...
    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]: ...
    def add_attempt(self, attempt: WebhookAttempt) -> None: ...
    async def fail_pending(self, endpoint_id: uuid.UUID) -> None: ...
    async def replay_failed_since(
        self, endpoint_id: uuid.UUID, *, since: datetime, now: datetime
    ) -> int: ...


class UnitOfWork(Protocol):
    @property
    def users(self) -> Users: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def items(self) -> Items: ...
    @property
    def orders(self) -> Orders: ...
    @property
    def order_views(self) -> OrderViews: ...
    @property
    def payments(self) -> Payments: ...
    @property
    def reports(self) -> Reports: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def webhooks(self) -> Webhooks: ...
    @property
    def audit(self) -> Audit: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    def record(self, event: Event) -> None:
        """An event no entity records (a request about an e-mail address that may have no
        account): written to the outbox by this unit of work's commit like the others."""


# Core INSERTs into the tables (an INSERT of the ORM entity goes through the ORM's bulk
# machinery, which these rows do not need: they are never loaded in this session).
_INSERT_OUTBOX = insert(cast(Table, OutboxMessage.__table__))
_INSERT_TIMELINE = insert(cast(Table, TimelineEntry.__table__))


def _outbox_row(event: Event, traceparent: str | None) -> dict[str, Any]:
    """The event's columns; the others (attempts, ...) take their column defaults."""
    return {
        "id": event.event_id,
        "event_type": event.name,
        "payload": event.to_payload(),
        "created_at": event.occurred_at,
        "available_at": event.occurred_at,
        "traceparent": traceparent,
    }


# Awaited after each commit that changed the catalog (orderly.events.catalog_version).
CatalogChanged = Callable[[], Awaitable[None]]


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work. ``read_only=True`` for use cases that only read: no transaction
    is opened (each statement runs on its own, as it would under READ COMMITTED anyway), so
    a read costs its queries and nothing else, and ``commit`` refuses."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


class ConstraintViolated(Conflict):
    """A commit broke a unique or check constraint (e.g. two requests racing for one sku)."""

    code = "constraint-violated"


class ReadOnlyUnitOfWork(RuntimeError):
    """A read-only unit of work was asked to commit: the use case is declared wrongly."""


class SqlUnitOfWork:
    """A session opened on enter; anything not committed is rolled back on exit.

    ``read_only``: the session comes from a factory bound to an AUTOCOMMIT engine (see
    ``orderly.core.database.create_session_factories``) and ``commit`` raises.
    """

    users: UserRepository
    accounts: AccountRepository
    items: ItemRepository
    orders: OrderRepository
    order_views: OrderViewRepository
    payments: PaymentRepository
    reports: ReportRepository
    outbox: OutboxRepository
    webhooks: WebhookRepository
    audit: AuditRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        read_only: bool = False,
        gate: ConnectionGate | None = None,
        on_catalog_change: CatalogChanged | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._read_only = read_only
        self._gate = gate
        self._on_catalog_change = on_catalog_change
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        if not self._read_only and (shared := _shared_here()) is not None:
            await shared.release()  # its slot back first (see SharedReads)
        if self._gate is not None:
            await self._gate.acquire()
        self._start(self._session_factory())  # no I/O: the connection comes on first use
        return self

    def _start(self, session: AsyncSession) -> None:
        self._session = session
        self.users = UserRepository(self._session)
        self.accounts = AccountRepository(self._session)
        self._loose_events: list[Event] = []
        self.items = ItemRepository(self._session)
        self.orders = OrderRepository(self._session)
        self.order_views = OrderViewRepository(self._session)
        self.payments = PaymentRepository(self._session)
        self.reports = ReportRepository(self._session)
        self.outbox = OutboxRepository(self._session)
        self.webhooks = WebhookRepository(self._session)
        self.audit = AuditRepository(self._session)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                _recorded_events(session)  # not committed: the events go with the change
                # Closing ends the transaction: whatever was not committed is rolled back,
                # and loaded objects stay readable (detached, not expired) for the response.
                await session.close()
        finally:
            if self._gate is not None:
                self._gate.release()

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not active; use `async with`")
        return self._session

    async def commit(self) -> None:
        """Write, in one transaction: the entities added in this unit of work, the changes
        to the ones it loaded, then the events they all recorded (outbox and timeline) and
        the read model's rows of the orders that changed."""
        if self._read_only:
            raise ReadOnlyUnitOfWork("a read-only unit of work cannot commit")
        session = self.session
        events = sorted(
            [*_recorded_events(session), *self._loose_events], key=lambda e: e.occurred_at
        )
        self._loose_events = []
        changed_orders = order_projection.changed_orders(session)  # before the writes
        timeline = [TimelineEntry.values_for(e) for e in events if isinstance(e, OrderEvent)]
        catalog_changed = _items_changed(session)
        try:
            await _insert_added(session)
            await session.flush()  # changes to loaded entities
            if events:
                trace = current_traceparent()  # the request's or task's span, if traced
                rows = [_outbox_row(e, trace) for e in events]
                await self.session.execute(_INSERT_OUTBOX, rows)
            if timeline:
                await self.session.execute(_INSERT_TIMELINE, timeline)
            await order_projection.write(session, changed_orders, events)
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConstraintViolated("The change conflicts with data that already exists") from exc
        if catalog_changed or self.items.availability_changed:
            # After the commit, never before: a reader in between would cache the old rows
            # under the new version. The transaction is over, no connection is held.
            self.items.availability_changed = False
            if self._on_catalog_change is not None:
                await self._on_catalog_change()

    async def rollback(self) -> None:
        await self.session.rollback()

    def record(self, event: Event) -> None:
        self._loose_events.append(event)


class SharedReads:
    """One read-only session for every read-only unit of work that a request opens in
    turn (``shared_reads``): a signed-in read checks the session, then reads, on one pooled
    connection and one pass through the gate, instead of two of each. Opened on first use,
    closed when the request's reading is done.

    Only the task that opened the scope shares it, and only until the scope ends: a task
    started inside inherits the context variable but runs side by side (``gather``) or
    later, so it opens units of its own. A writer opened inside first hands the shared
    session's slot back (``release``): holding it while waiting for a second slot would
    leave a full pool's requests each waiting for the others."""

    def __init__(self, sessions: SessionFactories) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._owner = asyncio.current_task()
        self._closed = False

    def serves_here(self) -> bool:
        return not self._closed and asyncio.current_task() is self._owner

    async def session(self) -> AsyncSession:
        if self._session is None:
            if self._sessions.gate is not None:
                await self._sessions.gate.acquire()
            self._session = self._sessions.reader()
        return self._session

    async def release(self) -> None:
        """Close the session and give its slot back; a later read opens another."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.close()
        finally:
            if self._sessions.gate is not None:
                self._sessions.gate.release()

    async def close(self) -> None:
        self._closed = True
        await self.release()


class SharedReadUnitOfWork(SqlUnitOfWork):
    """A read-only unit of work on the request's shared session: leaving it keeps the
    session (and its connection) for the request's next read."""

    def __init__(self, shared: SharedReads, sessions: SessionFactories) -> None:
        super().__init__(sessions.reader, read_only=True)
        self._shared = shared

    async def __aenter__(self) -> Self:
        self._start(await self._shared.session())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._session = None


# The request's shared read session, if it opened one (``shared_reads``).
_shared_reads: ContextVar[SharedReads | None] = ContextVar("orderly_shared_reads", default=None)


def _shared_here() -> SharedReads | None:
    shared = _shared_reads.get()
    return shared if shared is not None and shared.serves_here() else None


@asynccontextmanager
async def shared_reads(sessions: SessionFactories) -> AsyncIterator[None]:
    """Inside: the read-only units of work this task opens share one session, released on
    leaving (see ``SharedReads``)."""
    shared = SharedReads(sessions)
    token = _shared_reads.set(shared)
    try:
        yield
    finally:
        _shared_reads.reset(token)
        await shared.close()


async def _insert_added(session: AsyncSession) -> None:
    """Entities added to the session (``repository.add``) are written as plain INSERTs, in
    foreign-key order, with their model defaults applied (``insert_row``); the ORM's flush
    is left the changes to loaded entities. The flush of new objects is bookkeeping these
    rows never need (they are not read back in this unit of work), and it was the largest
    part of placing an order. Written rows leave the session: they stay readable as they
    are."""
    added = list(session.new)
    rows: dict[Table, list[dict[str, Any]]] = {}
    for entity in added:
        rows.setdefault(cast(Table, entity.__table__), []).append(insert_row(entity))
        if entity in session:  # an order's lines leave with it (cascade)
            session.expunge(entity)
    for table in Base.metadata.sorted_tables:
        if table in rows:
            await session.execute(insert(table), rows[table])


def _items_changed(session: AsyncSession) -> bool:
    """Whether this commit writes a catalog item: a new one, or a change to a loaded one
    (create, edit, soft delete, restore). Stock moved by orders is the repository's part."""
    return any(
        isinstance(entity, Item) and (entity in session.new or session.is_modified(entity))
        for entity in (*session.new, *session.dirty)
    )


def _recorded_events(session: AsyncSession) -> list[Event]:
    """Collect (and forget) what the session's entities recorded, in the order it happened."""
    seen = [*session.new, *session.identity_map.values()]
    events = [
        event
        for entity in seen
        if isinstance(entity, RecordsEvents)
        for event in entity.collect_events()
    ]
    return sorted(events, key=lambda event: event.occurred_at)


def sql_units_of_work(
    sessions: SessionFactories, *, on_catalog_change: CatalogChanged | None = None
) -> UnitOfWorkFactory:
    """The factory services get: writers share one pool with AUTOCOMMIT readers.
    ``on_catalog_change`` is awaited after each commit that changed the catalog."""

    def open_unit(*, read_only: bool = False) -> UnitOfWork:
        if read_only:
            shared = _shared_here()
            if shared is not None:
                return SharedReadUnitOfWork(shared, sessions)
            return SqlUnitOfWork(sessions.reader, read_only=True, gate=sessions.gate)
        return SqlUnitOfWork(
            sessions.writer, gate=sessions.gate, on_catalog_change=on_catalog_change
        )

    return open_unit
