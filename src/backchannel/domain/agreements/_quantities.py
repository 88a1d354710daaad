"""Exact quantities and instants of obligations (private): micro-units and integer microseconds.

A quantity is held as integer micro-units (6 decimals, exact), an instant as
integer microseconds since the Unix epoch, so a token bucket's arithmetic is
exact and replay gives the same numbers. :mod:`backchannel.domain.agreements.obligations`
re-exports these names. This module decides nothing about obligations.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from backchannel.domain.errors import SchemaViolationError, Violation

__all__ = [
    "EPOCH",
    "MAX_QUANTITY",
    "MICRO",
    "instant_of",
    "instant_us",
    "micro_from_text",
    "micro_text",
    "quantity_micro",
    "ticks_text",
]

MICRO = 1_000_000
"""Micro-units per unit, and microseconds per second."""
MAX_QUANTITY = 10**15 - 1
"""The largest quantity in micro-units (999,999,999.999999 units: 15 digits, exact as a double)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch, the zero of :func:`instant_us`."""

_MICRO_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")
_ONE_US = timedelta(microseconds=1)


# --------------------------------------------------------------------------------------------------
# Quantities and instants
# --------------------------------------------------------------------------------------------------


def quantity_micro(value: object, field: str, *, positive: bool) -> tuple[int, list[Violation]]:
    """A JSON number as exact micro-units, and its violations (``(0, [...])`` when bad).

    A number must be finite, at most 6 fractional digits (as written: ``3.67``,
    ``20``), at most :data:`MAX_QUANTITY` micro-units, and > 0 if ``positive``
    else >= 0.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0, [Violation(field, "type", f"{field}: expected a number, got {type(value).__name__}")]
    micro = Decimal(value if isinstance(value, int) else repr(value)) * MICRO
    if not math.isfinite(value) or micro != micro.to_integral_value():
        message = f"{field}: {value!r} is not a finite number with at most 6 decimals"
        return 0, [Violation(field, "precision", message)]
    amount = int(micro)
    least = 1 if positive else 0
    if not least <= amount <= MAX_QUANTITY:
        bound = "> 0" if positive else ">= 0"
        message = f"{field}: {value!r} must be {bound} and below {MAX_QUANTITY // MICRO + 1}"
        return 0, [Violation(field, "range", message)]
    return amount, []


def micro_text(micro: int) -> str:
    """Exact decimal text of a micro-unit amount: ``3500000`` -> ``"3.5"``, ``-1`` -> ``"-0.000001"``."""
    sign = "-" if micro < 0 else ""
    whole, fraction = divmod(abs(micro), MICRO)
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:06d}".rstrip("0")


def micro_from_text(text: object, field: str) -> int:
    """The micro-units of :func:`micro_text`'s exact form (the only form accepted).

    Raises:
        SchemaViolationError: any other text (``"3.50"``, ``"-0"``, ``"1e3"``), naming ``field``.
    """
    if isinstance(text, str) and _MICRO_TEXT.fullmatch(text) and len(text) <= 24:
        micro = int(Decimal(text) * MICRO)
        if micro_text(micro) == text:
            return micro
    raise SchemaViolationError([Violation(field, "form", f"{field}: {text!r:.40} is not an exact decimal")])


def ticks_text(ticks: int, scale: int, *, up: bool = False) -> str:
    """Ticks as decimal text in the metric's unit, rounded down (``up``: rounded up) to a micro-unit."""
    micro = -(-ticks // scale) if up else ticks // scale
    return micro_text(micro)


def instant_us(moment: datetime) -> int:
    """An aware instant as integer microseconds since the Unix epoch."""
    return (moment - EPOCH) // _ONE_US


def instant_of(us: int) -> datetime:
    """The UTC instant ``us`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=us)
