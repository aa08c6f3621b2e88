"""Money is an integer amount in minor units plus an ISO 4217 code; never a float."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 codes the shop accepts, with their number of minor-unit digits.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "CAD": 2,
    "AUD": 2,
    "JPY": 0,
    "KWD": 3,
}

MAX_AMOUNT_MINOR = 10**12  # a sanity ceiling on any single price


def validate_currency(code: str) -> str:
    normalized = code.strip().upper()
    if normalized not in CURRENCY_EXPONENTS:
        supported = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise ValueError(f"unsupported currency {code!r}; use one of {supported}")
    return normalized


def to_major(amount_minor: int, currency: str) -> Decimal:
    """1234 EUR -> Decimal('12.34'); exact, for display and the v2 representation."""
    exponent = CURRENCY_EXPONENTS[currency]
    return Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
