"""Round trips that must hold for every value, not just the few a unit test names: keyset
cursors, money in minor and major units, settings read back from the environment."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderly.api.v2 import cursor
from orderly.core.config import Environment, Settings
from orderly.core.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR, to_major, validate_currency
from orderly.schemas.text import has_control_characters
from orderly.schemas.v2 import Money

KINDS = st.sampled_from(["items:name", "items:price", "orders:created"])
TEXT_VALUES = st.text(max_size=60).filter(lambda text: not has_control_characters(text))
SORT_VALUES = st.one_of(
    TEXT_VALUES,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.datetimes(timezones=st.just(UTC)),
)
CURRENCIES = st.sampled_from(sorted(CURRENCY_EXPONENTS))


@given(kind=KINDS, value=SORT_VALUES, row_id=st.uuids())
def test_a_cursor_decodes_to_what_was_encoded(kind: str, value: object, row_id: uuid.UUID) -> None:
    token = cursor.encode(kind, value, row_id)
    assert cursor.decode(token, kind, expect=(str, int, datetime)) == (value, row_id)
    assert token.isascii()  # fits a query string as it is
    assert "=" not in token


@given(value=SORT_VALUES, row_id=st.uuids())
def test_a_cursor_is_refused_by_another_listing(value: object, row_id: uuid.UUID) -> None:
    token = cursor.encode("items:name", value, row_id)
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(token, "orders:created", expect=(str, int, datetime))


@given(token=st.text(max_size=200))
def test_any_text_is_a_cursor_or_a_422(token: str) -> None:
    refused: cursor.InvalidCursor | None = None
    try:
        value, row_id = cursor.decode(token, "items:name", expect=(str, int, datetime))
    except cursor.InvalidCursor as error:
        refused = error
    if refused is not None:
        assert refused.field == "cursor"
    else:  # what decodes is something we could have encoded
        again = cursor.encode("items:name", value, row_id)
        assert cursor.decode(again, "items:name", expect=(str, int, datetime)) == (
            value,
            row_id,
        )


@given(amount=st.integers(0, MAX_AMOUNT_MINOR), currency=CURRENCIES)
def test_money_converts_to_major_units_and_back_exactly(amount: int, currency: str) -> None:
    major = to_major(amount, currency)
    exponent = CURRENCY_EXPONENTS[currency]
    assert int(major.scaleb(exponent)) == amount
    assert major.as_tuple().exponent == -exponent  # always the currency's digits: 10.00
    shown = Money.of(amount, currency)
    assert Decimal(shown.amount) == major
    assert shown.currency == currency


@given(currency=CURRENCIES, cases=st.lists(st.booleans(), min_size=3, max_size=3))
def test_a_currency_code_in_any_case_is_the_same_code(currency: str, cases: list[bool]) -> None:
    mixed = "".join(c.lower() if lower else c for c, lower in zip(currency, cases, strict=True))
    assert validate_currency(mixed) == currency


@given(code=st.text(min_size=3, max_size=3))
def test_a_currency_code_is_accepted_only_if_the_shop_knows_it(code: str) -> None:
    known = code.strip().upper() in CURRENCY_EXPONENTS
    try:
        assert validate_currency(code) in CURRENCY_EXPONENTS
    except ValueError:
        assert not known


ORIGINS = st.lists(
    st.from_regex(r"https?://[a-z][a-z0-9-]{0,20}\.example(:[1-9][0-9]{0,3})?", fullmatch=True),
    max_size=3,
)


@given(
    port=st.integers(1, 65535),
    pool_size=st.integers(1, 200),
    minutes=st.integers(1, 24 * 60),
    origins=ORIGINS,
    login_limit=st.from_regex(r"[1-9][0-9]{0,2}/(second|minute|hour)", fullmatch=True),
    environment=st.sampled_from([Environment.DEVELOPMENT, Environment.TEST]),
)
def test_settings_read_from_the_environment_are_the_values_written(
    port: int,
    pool_size: int,
    minutes: int,
    origins: list[str],
    login_limit: str,
    environment: Environment,
) -> None:
    env = {
        "ORDERLY_PORT": str(port),
        "ORDERLY_DATABASE_POOL_SIZE": str(pool_size),
        "ORDERLY_ACCESS_TOKEN_MINUTES": str(minutes),
        "ORDERLY_CORS_ORIGINS": json.dumps(origins),
        "ORDERLY_RATE_LIMIT_LOGIN": login_limit,
        "ORDERLY_ENVIRONMENT": environment.value,
    }
    with mock.patch.dict(os.environ, env):
        read = Settings(_env_file=None)
    assert (read.port, read.database_pool_size, read.access_token_minutes) == (
        port,
        pool_size,
        minutes,
    )
    assert (read.cors_origins, read.rate_limit_login, read.environment) == (
        origins,
        login_limit,
        environment,
    )
    # and a copy made from its own values is the same settings
    assert Settings(_env_file=None, **read.model_dump()) == read
