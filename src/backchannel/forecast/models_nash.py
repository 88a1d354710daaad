"""Asymmetric Nash bargaining solutions on one issue dimension, vectorised.

The Nash bargaining solution (Nash 1950), in its asymmetric form (Kalai 1977;
Roth 1979), picks the outcome ``x`` that maximises ``prod_i (u_i(x) - u_i(d))^w_i``
over the outcomes every actor weakly prefers to the disagreement point ``d``.
Here (ADR-0037):

- utilities are linear losses, ``u_i(x) = -|x - x_i|``;
- bargaining powers are capability x salience, ``w_i = c_i s_i``, the weights of
  the compromise model (with two actors at 0 and 100 both solutions below are the
  weighted mean);
- ``nash_worst``: each actor's disagreement payoff is its worst outcome on the
  0-100 scale, ``u_i(d) = -max(x_i, 100 - x_i)``, so every outcome is feasible;
- ``nash_reference``: the disagreement point is the reference point (status quo)
  ``r``. The feasible set is the interval of outcomes no actor likes less than
  ``r``; when actors sit on both sides of ``r`` (or one sits at ``r``) it is the
  single point ``r``, and the solution is ``r``: under unanimity the status quo
  cannot be moved against anyone's interest.

The maximisation is a golden-section search, exact to about 1e-6 points (the
objective is flat near its maximum, so float rounding sets the limit), run on all
issues and draws at once (the log-Nash product is concave in ``x``). This module
does not compute predictive intervals; :mod:`backchannel.forecast.models` does.

Leading axes are flattened and solved in blocks of :data:`BLOCK_ROWS` issue-draws,
so that each block's temporaries stay small. In a fresh process that is about 2.5
times faster than one call over 8,650 issue-draws (the allocator otherwise maps
and faults in new pages for every temporary); in the benchmark, where earlier
models have already grown the heap, the gain is about 5%. Each issue's answer
does not depend on the block it is in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from backchannel.forecast.models import BargainingInputs

__all__ = ["BLOCK_ROWS", "nash_reference", "nash_worst"]

FloatArray = npt.NDArray[np.float64]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
_ITERATIONS = 48  # 100 * 0.618**48 ~ 1e-8
#: Issue-draws solved together.
BLOCK_ROWS = 1024


def _log_nash(x: FloatArray, positions: FloatArray, weights: FloatArray, worst: FloatArray) -> FloatArray:
    """``sum_i w_i log(worst_i - |x - x_i|)`` with absent (zero-weight) actors contributing 0."""
    gain = worst - np.abs(x[..., None] - positions)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(weights > 0, weights * np.log(np.maximum(gain, 0.0)), 0.0)
    return np.asarray(terms.sum(axis=-1), dtype=np.float64)


def _golden_max(
    objective: Callable[[FloatArray], FloatArray], low: FloatArray, high: FloatArray
) -> FloatArray:
    """Maximise a concave function on ``[low, high]`` elementwise by golden-section search."""
    a, b = low.copy(), high.copy()
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = objective(c), objective(d)
    for _ in range(_ITERATIONS):
        left = fc >= fd  # the maximum lies in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        c_new, d_new = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        moved = objective(np.where(left, c_new, d_new))
        fc, fd = np.where(left, moved, fd), np.where(left, fc, moved)
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
    return (a + b) / 2


def _by_blocks(
    solve: Callable[[FloatArray, FloatArray, FloatArray], FloatArray], inputs: BargainingInputs
) -> FloatArray:
    """Apply ``solve(positions, weights, reference)`` to blocks of :data:`BLOCK_ROWS` flattened rows."""
    shape = inputs.positions.shape
    x = inputs.positions.reshape(-1, shape[-1])
    w = inputs.weights.reshape(-1, shape[-1])
    r = inputs.reference.reshape(-1)
    out = np.empty(r.shape)
    for lo in range(0, r.size, BLOCK_ROWS):
        block = slice(lo, lo + BLOCK_ROWS)
        out[block] = solve(x[block], w[block], r[block])
    return out.reshape(shape[:-1])


def nash_worst(inputs: BargainingInputs) -> FloatArray:
    """The asymmetric Nash bargaining solution with disagreement at each actor's worst point.

    Maximises ``sum_i c_i s_i log(max(x_i, 100 - x_i) - |x - x_i|)`` over ``x`` in [0, 100].
    """
    return _by_blocks(_nash_worst, inputs)


def _nash_worst(x: FloatArray, w: FloatArray, _reference: FloatArray) -> FloatArray:
    """:func:`nash_worst` on ``(rows, actors)``."""
    worst = np.maximum(x, 100.0 - x)
    shape = x.shape[:-1]
    result = _golden_max(lambda y: _log_nash(y, x, w, worst), np.zeros(shape), np.full(shape, 100.0))
    return np.where(w.sum(axis=-1) > 0, result, np.nan)


def nash_reference(inputs: BargainingInputs) -> FloatArray:
    """The asymmetric Nash bargaining solution with the reference point as disagreement point.

    Maximises ``sum_i c_i s_i log(|r - x_i| - |x - x_i|)`` over the interval where
    every term is defined (no actor loses against ``r``); the solution is ``r`` when
    that interval is the single point ``r``, and NaN when ``r`` is unknown.
    """
    return _by_blocks(_nash_reference, inputs)


def _nash_reference(x: FloatArray, w: FloatArray, r: FloatArray) -> FloatArray:
    """:func:`nash_reference` on ``(rows, actors)``."""
    active = w > 0
    worst = np.abs(r[..., None] - x)
    low = np.where(active, x - worst, -np.inf).max(axis=-1)
    high = np.where(active, x + worst, np.inf).min(axis=-1)
    open_set = (high - low > 1e-9) & np.isfinite(low) & np.isfinite(high)
    safe_low, safe_high = np.where(open_set, low, 0.0), np.where(open_set, high, 0.0)
    result = _golden_max(lambda y: _log_nash(y, x, w, worst), safe_low, safe_high)
    # the maximum lies within the actors' range, so within [0, 100]; the clip drops rounding beyond it
    return np.where(open_set, np.clip(result, 0.0, 100.0), r)
