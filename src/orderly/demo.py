"""Demo data for a fresh database: an administrator and a catalog to browse."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import asdict, dataclass

from orderly.container import Container
from orderly.models import Role

_MATERIALS = ["Oak", "Steel", "Linen", "Ceramic", "Walnut", "Copper", "Wool", "Glass"]
_THINGS = ["Desk Lamp", "Coffee Mug", "Notebook", "Chair", "Shelf", "Blanket", "Vase", "Clock"]


@dataclass(frozen=True, slots=True)
class DemoItem:
    sku: str
    name: str
    description: str
    price_minor: int
    currency: str
    stock: int


@dataclass(frozen=True, slots=True)
class SeedResult:
    admin_email: str
    admin_password: str | None  # only when generated here, so it can be shown once
    items: int


def demo_catalog() -> list[DemoItem]:
    """64 deterministic items with varied prices and stock (a few sold out)."""
    return [
        DemoItem(
            sku=f"DEMO-{n:04d}",
            name=f"{material} {thing}",
            description=f"A {thing.lower()} made of {material.lower()}.",
            price_minor=499 + (n * 737) % 19_000,
            currency="EUR",
            stock=0 if n % 13 == 0 else 5 + (n * 7) % 120,
        )
        for n, (material, thing) in enumerate(itertools.product(_MATERIALS, _THINGS), start=1)
    ]


async def seed_if_empty(container: Container) -> SeedResult | None:
    """Create the admin from settings and the demo catalog, only on an empty database."""
    async with container.uow() as uow:
        if await uow.users.count() or await uow.items.count():
            return None
    settings = container.settings
    configured = settings.admin_password
    password = configured.get_secret_value() if configured else secrets.token_urlsafe(12)
    await container.users.register(
        email=settings.admin_email, password=password, full_name="Administrator", role=Role.ADMIN
    )
    catalog = demo_catalog()
    for entry in catalog:
        await container.catalog.create_item(**asdict(entry))
    return SeedResult(
        admin_email=settings.admin_email,
        admin_password=None if configured else password,
        items=len(catalog),
    )
