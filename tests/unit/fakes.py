"""In-memory stand-ins for the repositories and the unit of work, passed into services.

Each fake is declared as the protocol it stands in for (at the end of the module), so the
type check fails when a fake lacks a method of the real repository or differs in signature.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from orderly.events.types import Event, OrderEvent
from orderly.models import (
    AdminAudit,
    Item,
    ItemFilter,
    ItemSort,
    ItemView,
    LineView,
    Order,
    OrderStatus,
    OrderView,
    Payment,
    Role,
    SalesReport,
    TimelineEntry,
    User,
)
from orderly.models.base import RecordsEvents
from orderly.projections.orders import Step, line_view, view_row
from orderly.repositories.items import sort_value
from orderly.unit_of_work import (
    ConstraintViolated,
    Items,
    Orders,
    OrderViews,
    Outbox,
    Payments,
    ReadOnlyUnitOfWork,
    Reports,
    UnitOfWork,
    UnitOfWorkFactory,
    Users,
    Webhooks,
)
from tests.unit.account_fakes import FakeAccounts
from tests.unit.webhook_fakes import FakeWebhooks


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, User] = {}

    def add(self, user: User) -> None:
        self.rows[user.id] = user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return self.rows.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        wanted = User.normalize_email(email)
        return next((u for u in self.rows.values() if u.email == wanted), None)

    async def count(self) -> int:
        return len(self.rows)

    async def active_admins(self) -> list[User]:
        return [u for u in self.rows.values() if u.role == Role.ADMIN and u.is_active]

    async def totp_secrets(self, *, after: uuid.UUID, limit: int) -> list[tuple[uuid.UUID, str]]:
        users = sorted(self.rows.values(), key=lambda u: u.id)
        found = [(u.id, u.totp_secret) for u in users if u.totp_secret and u.id > after]
        return found[:limit]

    async def replace_totp_secret(self, user_id: uuid.UUID, old: str, new: str) -> bool:
        user = self.rows.get(user_id)
        if user is None or user.totp_secret != old:
            return False
        user.totp_secret = new
        return True

    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        users = sorted(self.rows.values(), key=lambda u: (u.created_at, u.id))
        return users[offset : offset + limit], len(users)


def _matches(item: Item, criteria: ItemFilter) -> bool:
    """The conditions of ``ItemRepository.search`` (LIKE is case-insensitive: ilike)."""
    if not item.is_active:
        return False
    if criteria.q:
        text = criteria.q.lower()
        if text not in item.name.lower() and text not in item.sku.lower():
            return False
    if criteria.min_price is not None and item.price_minor < criteria.min_price:
        return False
    if criteria.max_price is not None and item.price_minor > criteria.max_price:
        return False
    return not (criteria.in_stock and item.stock <= 0)


class FakeItems:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Item] = {}

    def add(self, item: Item) -> None:
        self.rows[item.id] = item

    async def get(self, item_id: uuid.UUID) -> Item | None:
        return self.rows.get(item_id)

    async def view(self, item_id: uuid.UUID) -> ItemView | None:
        return self.rows.get(item_id)

    async def get_by_sku(self, sku: str) -> Item | None:
        wanted = Item.normalize_sku(sku)
        return next((i for i in self.rows.values() if i.sku == wanted), None)

    async def count(self) -> int:
        return len(self.rows)

    async def get_many(self, item_ids: list[uuid.UUID]) -> list[Item]:
        return [self.rows[i] for i in item_ids if i in self.rows]

    async def reserve_stock(self, item_id: uuid.UUID, quantity: int) -> bool:
        item = self.rows.get(item_id)
        if item is None or not item.is_active or item.stock < quantity:
            return False
        item.stock -= quantity
        return True

    async def release_stock(self, item_id: uuid.UUID, quantity: int) -> None:
        if item_id in self.rows:  # an UPDATE of a missing row changes nothing
            self.rows[item_id].stock += quantity

    def _sorted(self, criteria: ItemFilter, sort: ItemSort) -> list[Item]:
        """Matching items ordered by ``sort`` then id (ascending), as the SQL orders them."""
        by_id = sorted((i for i in self.rows.values() if _matches(i, criteria)), key=lambda i: i.id)
        # A stable sort keeps the id order among equal values, also in reverse.
        descending = sort.value.startswith("-")
        return sorted(by_id, key=lambda i: sort_value(i, sort), reverse=descending)

    async def search(
        self, *, criteria: ItemFilter, limit: int, offset: int, sort: ItemSort = ItemSort.NAME
    ) -> tuple[list[ItemView], int]:
        found = self._sorted(criteria, sort)
        return list(found[offset : offset + limit]), len(found)

    async def search_after(
        self,
        *,
        criteria: ItemFilter,
        limit: int,
        sort: ItemSort = ItemSort.NAME,
        after: tuple[Any, uuid.UUID] | None = None,
    ) -> list[ItemView]:
        found = self._sorted(criteria, sort)
        if after is not None:
            value, last_id = after
            descending = sort.value.startswith("-")

            def beyond(item: Item) -> bool:
                mine = sort_value(item, sort)
                further = mine < value if descending else mine > value
                return bool(further or (mine == value and item.id > last_id))

            found = [i for i in found if beyond(i)]
        return list(found[:limit])


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Order] = {}
        self.timeline: list[TimelineEntry] = []  # the unit of work appends to it

    def add(self, order: Order) -> None:
        self.rows[order.id] = order

    async def get(self, order_id: uuid.UUID, *, with_timeline: bool = False) -> Order | None:
        return self.rows.get(order_id)

    async def get_for_update(self, order_id: uuid.UUID, *, with_lines: bool = True) -> Order | None:
        return self.rows.get(order_id)

    async def get_by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None:
        return next(
            (o for o in self.rows.values() if o.user_id == user_id and o.idempotency_key == key),
            None,
        )

    def _visible(self, user_id: uuid.UUID | None, status: OrderStatus | None) -> list[Order]:
        return [
            o
            for o in self.rows.values()
            if (user_id is None or o.user_id == user_id) and (status is None or o.status == status)
        ]

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
    ) -> tuple[list[Order], int]:
        """Newest first, ties by id ascending (as ``OrderRepository.page``)."""
        by_id = sorted(self._visible(user_id, status), key=lambda o: o.id)
        found = sorted(by_id, key=lambda o: o.created_at, reverse=True)
        return found[offset : offset + limit], len(found)

    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
        with_timeline: bool = False,
    ) -> list[Order]:
        """Newest first, ties by id descending: the ``limit`` orders older than ``after``."""
        found = sorted(
            self._visible(user_id, status), key=lambda o: (o.created_at, o.id), reverse=True
        )
        if after is not None:
            found = [o for o in found if (o.created_at, o.id) < after]
        return found[:limit]

    async def pending_ids_before(self, cutoff: datetime, *, limit: int) -> list[uuid.UUID]:
        waiting = [
            o
            for o in self.rows.values()
            if o.status == OrderStatus.PENDING_PAYMENT and o.created_at < cutoff
        ]
        return [o.id for o in sorted(waiting, key=lambda o: o.created_at)][:limit]

    async def paid_between(self, start: datetime, end: datetime) -> list[Order]:
        paid = [
            o
            for o in self.rows.values()
            if o.status in (OrderStatus.PAID, OrderStatus.FULFILLED) and start <= o.created_at < end
        ]
        return sorted(paid, key=lambda o: o.created_at)

    async def feed_entries(
        self,
        *,
        user_id: uuid.UUID | None,
        to_status: str | None,
        after: tuple[datetime, uuid.UUID, int] | None,
        limit: int,
        newest_first: bool = False,
    ) -> list[TimelineEntry]:
        owners = {o.id: o.user_id for o in self.rows.values()}

        def key(entry: TimelineEntry) -> tuple[datetime, uuid.UUID, int]:
            return (entry.occurred_at, entry.order_id, entry.sequence)

        found = [
            e
            for e in self.timeline
            if (user_id is None or owners.get(e.order_id) == user_id)
            and (to_status is None or e.to_status == to_status)
            and (after is None or key(e) > after)
        ]
        return sorted(found, key=key, reverse=newest_first)[:limit]


@dataclass(frozen=True)
class FakeView:
    id: uuid.UUID
    user_id: uuid.UUID
    status: str
    total_minor: int
    currency: str
    lines: list[LineView]
    last_step_type: str | None
    last_step_sequence: int | None
    last_step_at: datetime | None
    created_at: datetime
    updated_at: datetime


class FakeOrderViews:
    """The read model as the projection writes it, computed from the fake's committed
    orders and timeline entries."""

    def __init__(self, orders: FakeOrders, timeline: list[TimelineEntry]) -> None:
        self._orders = orders
        self._timeline = timeline

    def _view(self, order: Order) -> FakeView:
        entries = [e for e in self._timeline if e.order_id == order.id]
        last = max(entries, key=lambda e: e.sequence) if entries else None
        step = Step(last.type, last.sequence, last.occurred_at) if last else None
        row = view_row(order, [line_view(line) for line in order.lines], step)
        return FakeView(id=row.pop("order_id"), **row)

    async def get(self, order_id: uuid.UUID) -> OrderView | None:
        order = self._orders.rows.get(order_id)
        return None if order is None else self._view(order)

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
    ) -> tuple[list[OrderView], int]:
        found, total = await self._orders.page(
            limit=limit, offset=offset, user_id=user_id, status=status
        )
        return [self._view(order) for order in found], total

    async def page_after(
        self,
        *,
        limit: int,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[OrderView]:
        found = await self._orders.page_after(
            limit=limit, user_id=user_id, status=status, after=after
        )
        return [self._view(order) for order in found]

    async def timelines(self, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[TimelineEntry]]:
        return {
            order_id: sorted(
                (e for e in self._timeline if e.order_id == order_id), key=lambda e: e.sequence
            )
            for order_id in order_ids
        }


class FakePayments:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Payment] = {}  # by order id

    def add(self, payment: Payment) -> None:
        self.rows[payment.order_id] = payment

    async def for_order(self, order_id: uuid.UUID) -> Payment | None:
        return self.rows.get(order_id)

    async def for_orders(self, order_ids: list[uuid.UUID]) -> list[Payment]:
        return [self.rows[i] for i in order_ids if i in self.rows]


class FakeReports:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, SalesReport] = {}

    def add(self, report: SalesReport) -> None:
        self.rows[report.id] = report

    async def get(self, report_id: uuid.UUID) -> SalesReport | None:
        return self.rows.get(report_id)


class FakeOutbox:
    """The events committed (``written``; none is ever published here) and the handlers
    that finished with an event."""

    def __init__(self, written: list[Event]) -> None:
        self.written = written
        self.processed: set[tuple[uuid.UUID, str]] = set()
        self.handled: set[uuid.UUID] = set()

    async def backlog(self) -> tuple[int, datetime | None]:
        oldest = min((e.occurred_at for e in self.written), default=None)
        return len(self.written), oldest

    async def is_processed(self, event_id: uuid.UUID, handler: str) -> bool:
        return (event_id, handler) in self.processed

    async def mark_processed(self, event_id: uuid.UUID, handler: str) -> None:
        self.processed.add((event_id, handler))

    async def mark_handled(self, event_id: uuid.UUID, *, at: datetime) -> None:
        self.handled.add(event_id)

    async def make_due(self, event_id: uuid.UUID, *, at: datetime) -> bool:
        return False  # nothing is ever waiting here: every event counts as written


class FakeAudit:
    def __init__(self) -> None:
        self.records: list[AdminAudit] = []

    def add(self, record: AdminAudit) -> None:
        self.records.append(record)


class FakeUnitOfWork:
    """Shares its repositories across uses, like one database; counts commits. Like the SQL
    unit of work, a commit writes what the entities recorded to the outbox (``events``);
    leaving without a commit forgets it."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.accounts = FakeAccounts(self.users.rows)
        self.loose_events: list[Event] = []
        self.items = FakeItems()
        self.orders = FakeOrders()
        self.payments = FakePayments()
        self.reports = FakeReports()
        self.webhooks = FakeWebhooks()
        self.audit = FakeAudit()
        self.commits = 0
        self.fail_next_commit = False
        self.events: list[Event] = []  # what a real unit of work would write to the outbox
        self.timeline = self.orders.timeline  # and to the orders' timelines
        self.order_views = FakeOrderViews(self.orders, self.timeline)
        self.outbox = FakeOutbox(self.events)
        self.read_only = False
        self.opened: list[bool] = []  # read_only of every use, in order

    def __call__(self, *, read_only: bool = False) -> Self:
        self.read_only = read_only
        self.opened.append(read_only)
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._recorded_events()  # not committed: the events are gone with the change

    async def commit(self) -> None:
        if self.read_only:
            raise ReadOnlyUnitOfWork("a read-only unit of work cannot commit")
        if self.fail_next_commit:
            self.fail_next_commit = False
            self._recorded_events()
            raise ConstraintViolated("unique constraint")
        self.commits += 1
        recorded = self._recorded_events()
        self.events += recorded
        for event in recorded:
            if isinstance(event, OrderEvent):
                self.timeline.append(TimelineEntry(**TimelineEntry.values_for(event)))

    async def rollback(self) -> None:
        return None

    def record(self, event: Event) -> None:
        self.loose_events.append(event)

    def _recorded_events(self) -> list[Event]:
        loose, self.loose_events = self.loose_events, []
        entities: list[RecordsEvents] = [
            *self.users.rows.values(),
            *self.orders.rows.values(),
            *self.reports.rows.values(),
            *self.webhooks.endpoints.values(),
        ]
        events = [event for entity in entities for event in entity.collect_events()] + loose
        return sorted(events, key=lambda event: event.occurred_at)


# The fakes implement the protocols the services depend on: mypy checks these assignments.
_USERS: type[Users] = FakeUsers
_ITEMS: type[Items] = FakeItems
_ORDERS: type[Orders] = FakeOrders
_ORDER_VIEWS: type[OrderViews] = FakeOrderViews
_PAYMENTS: type[Payments] = FakePayments
_REPORTS: type[Reports] = FakeReports
_OUTBOX: type[Outbox] = FakeOutbox
_WEBHOOKS: type[Webhooks] = FakeWebhooks
_UNIT_OF_WORK: type[UnitOfWork] = FakeUnitOfWork
_UNITS_OF_WORK: type[UnitOfWorkFactory] = FakeUnitOfWork
