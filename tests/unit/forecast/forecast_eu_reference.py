"""The expected-utility model as it stood before vectorising it in blocks (commit 121bbf8), kept verbatim.

A plain module (not a test) that the equivalence tests compare the production
implementation, :mod:`backchannel.forecast.models_eu`, against. Its only change is
that it reads no constants from the production module.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.models import BargainingInputs, weighted_median_of

DEFAULT_ROUNDS = 4

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _win_probability(z: FloatArray, w: FloatArray) -> FloatArray:
    """``P[..., a, b]``: the weighted share of votes for ``a`` over ``b`` (step 1).

    Voter ``k``'s vote ``w_k (|x_k - x_b| - |x_k - x_a|)`` is, for ``x_a < x_b``,
    ``w_k * clip(2 (m - x_k), -d, d)`` with ``m`` the midpoint and ``d = x_b - x_a``.
    So the sums over voters are prefix sums of ``w`` and ``w x`` over the sorted
    positions, read at ``x_a``, ``m`` and ``x_b``: O(A^2 log A) per issue instead of A^3.
    """
    a_count = z.shape[-1]
    flat_z, flat_w = z.reshape(-1, a_count), w.reshape(-1, a_count)
    rows = flat_z.shape[0]
    order = np.argsort(flat_z, axis=1)
    zs, ws = np.take_along_axis(flat_z, order, axis=1), np.take_along_axis(flat_w, order, axis=1)
    zero = np.zeros((rows, 1))
    c0 = np.concatenate([zero, np.cumsum(ws, axis=1)], axis=1)
    c1 = np.concatenate([zero, np.cumsum(ws * zs, axis=1)], axis=1)
    offset = 2.0 * np.arange(rows)[:, None]  # rows apart on one sorted line (z is in [0, 1])
    line = (zs + offset).ravel()
    base = (np.arange(rows) * a_count)[:, None]

    def count(at: FloatArray, side: Literal["left", "right"]) -> npt.NDArray[np.intp]:
        """How many voters sit below (``left``) or at or below (``right``) each of ``at``, per row."""
        flat = at.reshape(rows, -1)
        index = np.searchsorted(line, (flat + offset).ravel(), side=side).reshape(flat.shape)
        return np.asarray(index - base, dtype=np.intp)

    def take(cum: FloatArray, index: npt.NDArray[np.intp]) -> FloatArray:
        return np.take_along_axis(cum, index, axis=1).reshape(rows, a_count, a_count)

    at_or_below, below = count(flat_z, "right"), count(flat_z, "left")
    i_lo = np.minimum(at_or_below[:, :, None], at_or_below[:, None, :]).reshape(rows, -1)  # x_k <= lo
    i_hi = np.maximum(below[:, :, None], below[:, None, :]).reshape(rows, -1)  # x_k < hi
    za, zb = flat_z[:, :, None], flat_z[:, None, :]
    mid, gap = (za + zb) / 2, np.abs(za - zb)
    i_mid = count(mid, "left")  # voters exactly at the midpoint vote 0 either way
    w_lo, w_mid, w_hi = take(c0, i_lo), take(c0, i_mid), take(c0, i_hi)
    m_lo, m_mid, m_hi = take(c1, i_lo), take(c1, i_mid), take(c1, i_hi)
    left = gap * w_lo + 2 * mid * (w_mid - w_lo) - 2 * (m_mid - m_lo)
    right = gap * (c0[:, -1:, None] - w_hi) + 2 * (m_hi - m_mid) - 2 * mid * (w_hi - w_mid)
    total = left + right
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, np.where(za < zb, left, right) / total, 0.0)
    return share.reshape((*z.shape, a_count))


Utilities = tuple[FloatArray, FloatArray, FloatArray]


def _utilities(d: FloatArray, r: FloatArray | float) -> Utilities:
    """Step 2: success, failure and status-quo utilities at distance ``d`` with risk exponent ``r``."""
    if isinstance(r, float) and r == 1.0:  # x ** 1 == x exactly: skip the powers
        return 2 - 4 * (0.5 - 0.5 * d), 2 - 4 * (0.5 + 0.5 * d), np.zeros_like(d)
    return 2 - 4 * (0.5 - 0.5 * d) ** r, 2 - 4 * (0.5 + 0.5 * d) ** r, 2 - 4 * 0.5**r


def _challenge(p: FloatArray, s_target: FloatArray, utilities: Utilities) -> FloatArray:
    """Step 3: the expected utility of a challenge, elementwise."""
    success, failure, status_quo = utilities
    return s_target * (p * success + (1 - p) * failure) + (1 - s_target) * success - status_quo


def _risk(p: FloatArray, d: FloatArray, s: FloatArray, present: BoolArray) -> FloatArray:
    """Step 4: each actor's risk exponent from its danger relative to the others'."""
    pair = present[..., :, None] & present[..., None, :] & ~np.eye(present.shape[-1], dtype=bool)
    eu = _challenge(p, s[..., None, :], _utilities(d, 1.0))  # eu[j, i] = EU(j challenges i)
    danger = np.where(pair, eu, 0.0).sum(axis=-2)
    high = np.where(present, danger, -np.inf).max(axis=-1, keepdims=True)
    low = np.where(present, danger, np.inf).min(axis=-1, keepdims=True)
    spread = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        big_r = np.where(spread > 0, (2 * danger - high - low) / spread, 0.0)
    return np.where(present, (1 - big_r / 3) / (1 + big_r / 3), 1.0)


def _round(z: FloatArray, s: FloatArray, w: FloatArray, present: BoolArray) -> FloatArray:
    """One round of challenges and offers (steps 1-5); returns the new positions."""
    p = _win_probability(z, w)
    d = np.abs(z[..., :, None] - z[..., None, :])
    r = _risk(p, d, s, present)[..., :, None]  # i's exponent on row i
    utilities = _utilities(d, r)  # d is symmetric and r is i's: the same for both directions
    e = _challenge(p, s[..., None, :], utilities)  # e[i, j] = EU(i challenges j) in i's eyes
    f = _challenge(np.swapaxes(p, -1, -2), s[..., :, None], utilities)  # f[i, j] = EU(j challenges i)
    valid = present[..., :, None] & present[..., None, :] & (d > 0)
    zi, zj = z[..., :, None], z[..., None, :]
    confront = valid & (f > e) & (e > 0)
    loses = valid & (f > 0) & (e < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        partial = zi + (zj - zi) * np.abs(e / f)
    target = np.where(loses & (f > -e), partial, zj)
    move = np.where(confront | loses, np.abs(target - zi), np.inf)
    best = np.argmin(move, axis=-1)[..., None]
    chosen = np.take_along_axis(target, best, axis=-1)[..., 0]
    has_offer = np.isfinite(np.take_along_axis(move, best, axis=-1)[..., 0])
    return np.where(has_offer, chosen, z)


def expected_utility_rounds(inputs: BargainingInputs, rounds: int) -> FloatArray:
    """Run ``rounds`` rounds and return the final positions on the 0-100 scale, ``(..., actors)``.

    Args:
        inputs: The actors' positions, saliences and capabilities.
        rounds: How many rounds (0 returns the initial positions).

    Returns:
        The positions after the last round (absent actors keep their input value).

    Raises:
        DomainError: ``rounds`` negative.
    """
    if rounds < 0:
        raise DomainError(f"rounds: must be >= 0 (got {rounds})")
    present, x = inputs.present, inputs.positions
    low = np.where(present, x, np.inf).min(axis=-1, keepdims=True)
    high = np.where(present, x, -np.inf).max(axis=-1, keepdims=True)
    span = np.where(np.isfinite(high - low) & (high > low), high - low, 1.0)
    base = np.where(np.isfinite(low), low, 0.0)
    z = np.where(present, (x - base) / span, 0.0)
    s, w = inputs.saliences / 100.0, inputs.weights
    for _ in range(rounds):
        z = _round(z, s, w, present)
    return np.where(present, base + span * z, x)


def expected_utility(inputs: BargainingInputs, rounds: int = DEFAULT_ROUNDS) -> FloatArray:
    """The expected-utility model's forecast: the weighted median of positions after ``rounds`` rounds.

    Args:
        inputs: The actors' positions, saliences and capabilities.
        rounds: Rounds of challenges (default :data:`DEFAULT_ROUNDS`).

    Returns:
        The forecast per issue on 0-100 (NaN where every weight is zero).
    """
    final = expected_utility_rounds(inputs, rounds)
    return weighted_median_of(final, inputs.weights)
