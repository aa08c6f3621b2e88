"""SqlUnitOfWork on the real databases: read-only units see committed data and never write."""

from __future__ import annotations

import pytest

from orderly.container import Container
from orderly.unit_of_work import ReadOnlyUnitOfWork


async def test_a_read_only_unit_reads_but_refuses_to_commit(container: Container) -> None:
    item = await container.catalog.create_item(
        sku="RO-1", name="Read me", price_minor=100, currency="EUR", stock=2
    )
    async with container.uow(read_only=True) as uow:
        found = await uow.items.get(item.id)
        assert found is not None
        found.stock = 99  # a change in a read-only unit...
        with pytest.raises(ReadOnlyUnitOfWork):
            await uow.commit()
    async with container.uow(read_only=True) as uow:
        again = await uow.items.get(item.id)
    assert again is not None
    assert again.stock == 2  # ...is never written
