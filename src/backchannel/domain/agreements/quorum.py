"""The quorum rule: which inspectors' values agree, and the value that counts (pure functions).

A metric's rule has a tolerance ``t`` of one of two kinds:

- **absolute**: values ``a`` and ``b`` agree when ``|a - b| <= t``;
- **relative**: they agree when ``|a - b| <= t * max(|a|, |b|)``, with
  ``0 <= t <= 1`` (the metric's rule refuses more).

A set of values *agrees* when every pair in it agrees.
:func:`agreeing_cluster` returns the largest agreeing run of one observation
window's values in sorted order: for an absolute tolerance that is the largest
agreeing subset (whether a set agrees depends only on its extremes); for a
relative one it is too for values of one sign, since ``(b - a) / b`` grows
with ``b`` and shrinks with ``a``. Every run is tried (at most O(n³) for n
values; n is at most the metric's panel of inspectors). Ties go to the run
with the smaller spread, then to the one with the lower values. The
**counted value** of a cluster is its *low median* (:func:`low_median`): the
middle value, or the lower of the two middle ones, so it is always a value an
inspector actually attested and no rounding happens.

Quorum is reached for a window when the cluster holds at least ``m`` values
(one per inspector party: a party attests a window at most once).
:func:`disagreeing` lists the values a new attestation does not agree with:
those are flagged as conflicts, never dropped.

This module does no I/O; values are finite floats, compared in decimal (:func:`agree`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

__all__ = ["ToleranceKind", "agree", "agreeing_cluster", "disagreeing", "low_median"]


class ToleranceKind(StrEnum):
    """How a tolerance is measured."""

    ABSOLUTE = "absolute"
    """In the metric's unit."""
    RELATIVE = "relative"
    """As a fraction of the larger magnitude of the two values."""


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def agree(a: float, b: float, amount: float, kind: ToleranceKind) -> bool:
    """True when ``a`` and ``b`` agree within ``amount`` of ``kind`` (see the module docstring).

    Computed in decimal on the numbers' shortest decimal forms, so ``3.6`` and
    ``3.7`` agree within ``0.1`` as written (in binary floating point their
    difference is a hair above 0.1).
    """
    x, y, t = _decimal(a), _decimal(b), _decimal(amount)
    allowance = t if kind is ToleranceKind.ABSOLUTE else t * max(abs(x), abs(y))
    return abs(x - y) <= allowance


def agreeing_cluster(values: Sequence[float], amount: float, kind: ToleranceKind) -> tuple[int, ...]:
    """The positions in ``values`` of the largest agreeing subset (see the module docstring).

    Returns:
        Positions into ``values``, in ascending order of value (then position);
        empty only when ``values`` is.
    """
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    best: tuple[int, int] = (0, 0)  # [start, stop) into order
    best_key: tuple[int, Decimal] | None = None
    for start in range(len(order)):
        stop = start + 1
        while stop < len(order) and all(
            agree(values[order[stop]], values[order[i]], amount, kind) for i in range(start, stop)
        ):
            stop += 1  # the longest agreeing run from start: any longer one holds a disagreeing pair
        key = (start - stop, _decimal(values[order[stop - 1]]) - _decimal(values[order[start]]))
        if best_key is None or key < best_key:
            best, best_key = (start, stop), key
    return tuple(order[best[0] : best[1]])


def low_median(values: Sequence[float]) -> float:
    """The middle value of ``values`` in sorted order (the lower middle one for an even count).

    Raises:
        ValueError: no values.
    """
    if not values:
        raise ValueError("the median of no values")
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def disagreeing(value: float, others: Sequence[float], amount: float, kind: ToleranceKind) -> tuple[int, ...]:
    """The positions in ``others`` of the values ``value`` does not agree with."""
    return tuple(i for i, other in enumerate(others) if not agree(value, other, amount, kind))
