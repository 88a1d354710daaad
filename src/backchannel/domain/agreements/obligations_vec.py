"""The obligation engine over NumPy arrays: replay a whole consumption history at once (ADR-0018).

:func:`replay_consumption` gives, for records ``(times[i], amounts[i])`` in
log order, exactly what :func:`~backchannel.domain.agreements.obligations.meter`
gives record by record (with no review in between): the tokens after each
record (integer ticks), its overdraw flag, the level after it, and every
ladder step. Exactly, not approximately: the arithmetic is integer, in int64
when a bound computed up front proves nothing can overflow, else in Python
integers (``dtype=object``, slower, still exact).

**The bucket, vectorised.** With ``a_i = refill * dt_i`` (the refill since
the previous record), ``x_i`` the consumption and ``B`` the burst (in ticks),
the bucket is the recurrence ``T_i = min(B, T_{i-1} + a_i) - x_i``, i.e.
``T_i = min(c_i, T_{i-1} + d_i)`` with ``c_i = B - x_i`` and
``d_i = a_i - x_i``. Unrolling the (min, +) recurrence with the prefix sums
``D_i = d_1 + ... + d_i``::

    T_i = D_i + min(T_0, min_{k <= i} (c_k - D_k))

one ``cumsum`` and one ``minimum.accumulate``. (By induction: ``T_i =
min(c_i, D_{i-1} + m_{i-1} + d_i) = D_i + min(c_i - D_i, m_{i-1})``.) Tokens
never clamp at zero (a debt is carried), so no lower clamp breaks the scan.

**The ladder.** Levels change only at overdraws (up) and at computed
instants (down), so the loop runs once per ladder event, not per record. For
the gap before record ``g`` (from the previous record, or the start, to
``t_g``), the bucket rises from ``TL_g`` and is at the recovery threshold from
``e_g = t_{g-1} + ceil((threshold - 100 * TL_g) / (100 * refill))`` on; the
gap is *good* when ``e_g <= t_g``. The next step down after a hold that
ends at ``q`` is at ``max(q, e_j)`` in the first gap ``j`` (not before the
current one) whose end is at or after ``q``, if that is within the gap, else
at ``e_j`` of the next good gap (a precomputed suffix minimum), found with
one ``searchsorted``. A step down at the end of gap ``g`` comes before record
``g``'s consumption, as in :func:`~backchannel.domain.agreements.obligations.meter`.

Records observed out of order are metered at the running maximum of the
times (no refill credited), as the engine does. This module is pure: no I/O,
no clock.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from backchannel.domain.agreements.obligations import ObligationSpec

__all__ = ["VectorReplay", "VectorStep", "replay_consumption"]

_INT64_LIMIT = 2**62


class VectorStep(NamedTuple):
    """A ladder step: before record ``record`` (down) or at it (up), effective at ``at`` (µs)."""

    record: int
    at: int
    from_level: int
    to_level: int


class VectorReplay(NamedTuple):
    """What a replay computed, one entry per record, and the ladder steps in order.

    Attributes:
        levels: The level after each record (int64).
        tokens: The tokens after each record, in ticks (int64, or Python
            integers in an object array when int64 could overflow: ``dtype``
            says which; the annotation names the common case).
        overdraw: Whether each record overdrew the bucket.
        steps: Every ladder step, in order.
        dtype: ``"int64"`` or ``"object"``: which arithmetic ran.
    """

    levels: NDArray[np.int64]
    tokens: NDArray[np.int64]
    overdraw: NDArray[np.bool_]
    steps: tuple[VectorStep, ...]
    dtype: str


def _fits_int64(
    spec: ObligationSpec, times: NDArray[np.int64], amounts: NDArray[np.int64], begin: int
) -> bool:
    """Whether every intermediate value provably stays within int64 (with room to spare).

    Every sum is bounded by the burst plus the whole refill plus the whole
    consumption; the consumption's total is taken as a float64 sum (relative
    error far below the factor 128 of headroom).
    """
    span = int(times[-1]) - begin
    consumed = float(amounts.sum(dtype=np.float64)) * spec.scale
    worst = float(spec.burst_ticks + spec.threshold + spec.refill * span) + consumed
    return 128 * worst + 4 * float(max(abs(int(times[-1])), abs(begin))) < _INT64_LIMIT


def replay_consumption(
    spec: ObligationSpec,
    times: NDArray[np.int64],
    amounts: NDArray[np.int64],
    *,
    start: int | None = None,
) -> VectorReplay:
    """Meter every record at once (see the module docstring).

    Args:
        spec: The obligation's terms.
        times: When each record was observed, µs since the epoch (log order).
        amounts: How much each consumed, micro-units (>= 0).
        start: When the obligation started, full (default: the first time).

    Returns:
        The levels, tokens, overdraw flags and ladder steps.

    Raises:
        ValueError: arrays of different shapes, not one-dimensional, or a negative amount.
    """
    times = np.asarray(times, dtype=np.int64)
    amounts = np.asarray(amounts, dtype=np.int64)
    if times.ndim != 1 or times.shape != amounts.shape:
        raise ValueError("times and amounts must be one-dimensional arrays of the same length")
    n = len(times)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return VectorReplay(empty, empty.copy(), np.zeros(0, dtype=np.bool_), (), "int64")
    if int(amounts.min()) < 0:
        raise ValueError("amounts must be >= 0")
    begin = int(times[0]) if start is None else start
    clock = np.maximum.accumulate(np.maximum(times, begin))
    fits = _fits_int64(spec, clock, amounts, begin)
    kind: type[np.int64 | np.object_] = np.int64 if fits else np.object_
    t = cast("NDArray[np.int64]", clock.astype(kind))
    cost = cast("NDArray[np.int64]", amounts.astype(kind)) * spec.scale
    burst = spec.burst_ticks
    left: NDArray[np.int64] = np.empty(n, dtype=kind)
    left[0] = begin
    left[1:] = t[:-1]
    prefix = np.cumsum((t - left) * spec.refill - cost)
    tokens = prefix + np.minimum(np.minimum.accumulate((burst - cost) - prefix), burst)
    overdraw = ((tokens < 0) & (cost > 0)).astype(np.bool_)
    levels, steps = _ladder(spec, clock=clock, left=left, tokens=tokens, overdraw=overdraw, begin=begin)
    return VectorReplay(levels, tokens, overdraw, steps, np.dtype(kind).name)


def _ladder(  # noqa: PLR0913 - the arrays the loop reads
    spec: ObligationSpec,
    *,
    clock: NDArray[np.int64],
    left: NDArray[np.int64],
    tokens: NDArray[np.int64],
    overdraw: NDArray[np.bool_],
    begin: int,
) -> tuple[NDArray[np.int64], tuple[VectorStep, ...]]:
    n = len(clock)
    before: NDArray[np.int64] = np.empty(n, dtype=tokens.dtype)
    before[0] = spec.burst_ticks
    before[1:] = tokens[:-1]
    need = spec.threshold - 100 * before
    ready = left + np.where(need > 0, -(-need // (100 * spec.refill)), 0)
    good = np.where(ready <= clock, np.arange(n), n)
    next_good = np.append(np.minimum.accumulate(good[::-1])[::-1], n)
    top, hold = spec.top, spec.hold_us
    steps: list[VectorStep] = []
    level, calm, gap = 0, begin, 0

    def step_downs(last: int) -> None:
        nonlocal level, calm, gap
        while level > 0:
            q = calm + hold
            j = max(gap, int(np.searchsorted(clock, q, side="left")))
            if j > last:
                return
            due = max(q, int(ready[j]))
            if due > int(clock[j]):
                j = int(next_good[j + 1])
                if j > last:
                    return
                due = int(ready[j])
            steps.append(VectorStep(j, due, level, level - 1))
            level, calm, gap = level - 1, due, j

    def escalate(run: list[int]) -> None:
        nonlocal level
        for index in run[: top - level]:
            steps.append(VectorStep(index, int(clock[index]), level, level + 1))
            level += 1

    over = np.flatnonzero(overdraw)
    # Which overdraws are followed by a step down before the next one (the hold restarts at each):
    # only those need the loop; a run of the others only climbs the ladder.
    hold_ends = clock[over] + hold
    first = np.maximum(over + 1, np.searchsorted(clock, hold_ends, side="left"))
    inside = np.minimum(first, n - 1)
    due = np.maximum(hold_ends, ready[inside])
    first = np.where((first < n) & (due <= clock[inside]), first, next_good[np.minimum(first + 1, n)])
    limit = np.append(over[1:], n - 1)
    done = 0
    for position in np.flatnonzero(first <= limit).tolist():
        escalate(over[done : position + 1].tolist())
        calm, gap = int(clock[over[position]]), int(over[position]) + 1
        step_downs(int(limit[position]))
        done = position + 1
    escalate(over[done:].tolist())
    levels = np.zeros(n, dtype=np.int64)
    if steps:
        where = np.array([s.record for s in steps], dtype=np.int64)
        value = np.array([s.to_level for s in steps], dtype=np.int64)
        latest = np.searchsorted(where, np.arange(n), side="right") - 1
        levels = np.where(latest >= 0, value[np.maximum(latest, 0)], 0)
    return levels, tuple(steps)
