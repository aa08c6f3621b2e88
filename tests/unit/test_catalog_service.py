"""CatalogService rules, on in-memory fakes."""

from __future__ import annotations

import uuid

import pytest

from orderly.core.errors import Unprocessable
from orderly.models import ItemFilter
from orderly.services.catalog import CatalogService, InvalidPriceRange, ItemNotFound, SkuTaken
from tests.unit.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def catalog(uow: FakeUnitOfWork) -> CatalogService:
    return CatalogService(uow)


async def make(catalog: CatalogService, sku: str = "cup-1") -> uuid.UUID:
    item = await catalog.create_item(
        sku=sku, name=" Cup ", price_minor=450, currency="eur", stock=3
    )
    return item.id


async def test_create_normalizes(catalog: CatalogService, uow: FakeUnitOfWork) -> None:
    item = await catalog.get_item(item_id=await make(catalog))
    assert (item.sku, item.name, item.currency) == ("CUP-1", "Cup", "EUR")
    assert uow.commits == 1


async def test_create_duplicate_sku(catalog: CatalogService, uow: FakeUnitOfWork) -> None:
    await make(catalog)
    with pytest.raises(SkuTaken):
        await make(catalog, "CUP-1")
    uow.fail_next_commit = True  # a concurrent create won at commit time
    with pytest.raises(SkuTaken):
        await make(catalog, "cup-2")


async def test_unknown_currency_is_refused(catalog: CatalogService) -> None:
    with pytest.raises(ValueError, match="unsupported currency"):
        await catalog.create_item(sku="X-1", name="X", price_minor=1, currency="XXX", stock=0)


async def test_update_checks_sku_and_fields(catalog: CatalogService) -> None:
    first = await make(catalog, "a-1")
    await make(catalog, "b-1")
    with pytest.raises(SkuTaken):
        await catalog.update_item(item_id=first, changes={"sku": "B-1"})
    same = await catalog.update_item(item_id=first, changes={"sku": "a-1", "stock": 7})
    assert (same.sku, same.stock) == ("A-1", 7)
    with pytest.raises(Unprocessable):
        await catalog.update_item(item_id=first, changes={"id": uuid.uuid4()})
    with pytest.raises(ItemNotFound):
        await catalog.update_item(item_id=uuid.uuid4(), changes={"stock": 1})


async def test_soft_delete_hides_from_public_reads(catalog: CatalogService) -> None:
    item_id = await make(catalog)
    await catalog.delete_item(item_id=item_id)
    with pytest.raises(ItemNotFound):
        await catalog.get_item(item_id=item_id)
    assert (await catalog.get_item(item_id=item_id, include_inactive=True)).is_active is False
    assert await catalog.list_items(limit=10, offset=0) == ([], 0)
    with pytest.raises(ItemNotFound):
        await catalog.delete_item(item_id=uuid.uuid4())


async def test_price_range_must_be_ordered(catalog: CatalogService) -> None:
    with pytest.raises(InvalidPriceRange):
        await catalog.list_items(criteria=ItemFilter(min_price=10, max_price=5), limit=10, offset=0)


async def test_reads_open_read_only_units_and_writes_do_not(
    catalog: CatalogService, uow: FakeUnitOfWork
) -> None:
    item_id = await make(catalog)
    await catalog.get_item(item_id=item_id)
    await catalog.list_items(limit=10, offset=0)
    await catalog.update_item(item_id=item_id, changes={"stock": 4})
    assert uow.opened == [False, True, True, False]
