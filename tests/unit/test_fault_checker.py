"""The fault suite's mail invariant (tests/faults.py): one confirmation per paid order, a
copy sent again with the same Message-ID being the same confirmation."""

from __future__ import annotations

from typing import Any, cast

import asyncpg

from tests.faults import _mails


def orders(**statuses: str) -> dict[str, asyncpg.Record]:
    return {order_id: cast(Any, {"status": status}) for order_id, status in statuses.items()}


def test_a_copy_with_the_same_message_id_is_one_confirmation() -> None:
    sent = {"a": ["<e1@orderly>", "<e1@orderly>"], "b": ["<e2@orderly>"]}
    assert list(_mails(orders(a="paid", b="fulfilled"), sent)) == []


def test_two_message_ids_a_missing_one_or_an_unknown_order_are_violations() -> None:
    sent = {"a": ["<e1@orderly>", "<e9@orderly>"], "x": ["<e3@orderly>"]}
    found = list(_mails(orders(a="paid", b="paid", c="pending_payment"), sent))
    assert len(found) == 3
    assert found[0].startswith("order a: 2 confirmation mails")
    assert found[1].startswith("order x: 1 confirmation mails")
    assert found[2] == "order b is paid without a confirmation"
