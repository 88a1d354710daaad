"""Bueno de Mesquita's expected-utility ("challenge") model, vectorised over issues and draws.

The version implemented is the one set out, from Bueno de Mesquita (1994,
"Political forecasting: an expected utility method", in Bueno de Mesquita & Stokman
(eds.), *European Community Decision Making*, Yale University Press, pp. 71-104),
by Scholz, Calbert & Smith (2011, "Unravelling Bueno de Mesquita's group decision
model", *Journal of Theoretical Politics* 23(4), from p. 510; also ICAART 2011).
Positions are rescaled to [0, 1] over the issue's range; saliences are on [0, 1].
Each round:

1. **Votes and the chance of winning.** Actor ``k`` backs ``a`` against ``b`` with
   ``v_k(a, b) = c_k s_k (|x_k - x_b| - |x_k - x_a|)``, and
   ``P(a, b) = sum_k max(v_k, 0) / sum_k |v_k|``.
2. **Utilities** with risk exponent ``r``: success ``U_s = 2 - 4 (0.5 - 0.5 d)^r``,
   failure ``U_f = 2 - 4 (0.5 + 0.5 d)^r``, status quo ``U_q = 2 - 4 (0.5)^r``,
   where ``d = |x_a - x_b|``.
3. **Expected utility of a challenge** of ``b`` by ``a``:
   ``EU(a, b) = s_b (P U_s + (1 - P) U_f) + (1 - s_b) U_s - U_q``; ``b`` resists
   with probability ``s_b``. The status quo is taken to persist when no one
   challenges (BDM's ``Q = 1``), so the ``T``, ``U_b`` and ``U_w`` terms drop out.
4. **Risk.** With ``r = 1``, actor ``i``'s danger is ``D_i = sum_j EU(j, i)``;
   ``R_i = (2 D_i - max D - min D) / (max D - min D)`` and
   ``r_i = (1 - R_i / 3) / (1 + R_i / 3)``, in [1/2, 2].
5. **Offers.** In ``i``'s own eyes (its ``r_i``), with ``e = EU(i, j)`` and
   ``f = EU(j, i)``: *confrontation* ``f > e > 0``: ``i`` expects to lose and
   moves to ``x_j``; *compromise* ``f > 0 > e`` and ``f > |e|``: ``i`` moves to
   ``x_i + (x_j - x_i) |e / f|``; *capitulation* ``f > 0 > e`` and ``f <= |e|``:
   ``i`` moves to ``x_j``. Each actor takes the offer that moves it least, and all
   move at once.

After a fixed number of rounds the forecast is the median-voter position: the
capability x salience weighted median of the final positions. Deliberate
simplifications, recorded in ADR-0037: the votes in step 1 use linear
(risk-neutral) utilities, and the number of rounds is fixed rather than run "until
the issue is resolved". This module does not compute intervals or ensembles.

Speed (issue #10's benchmark): leading axes are flattened and evaluated in blocks
of :data:`BLOCK_ROWS` issue-draws, stored actors-first (``(actors, rows)``,
``(actors, actors, rows)``) so that every pairwise operation runs over long
contiguous arrays and a block's temporaries stay small and cache-resident through
all the rounds. The vote sums are computed once per unordered pair and read prefix
sums at ranks found by exact comparisons (no sorted-line search), and the
challenge terms are built in place. Every arithmetic step is the one of the
original formulation, in the same order, so the answers are bit-for-bit those of
the original run one issue at a time (the tests compare the two on the DEU data
and on random inputs; ADR-0054).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.models import BargainingInputs, weighted_median_of

__all__ = ["BLOCK_ROWS", "DEFAULT_ROUNDS", "expected_utility", "expected_utility_rounds"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

#: Rounds of challenges before the forecast is read off.
DEFAULT_ROUNDS = 4
#: Issue-draws evaluated together (a block's pairwise arrays fit in the CPU cache).
BLOCK_ROWS = 64


def _count_dtype(a_count: int) -> type[np.uint8 | np.uint32]:
    """The narrowest unsigned integer that counts up to ``a_count`` voters (narrow sums are faster)."""
    return np.uint8 if a_count < 2**8 else np.uint32


def _win_probability(z: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``P[a, b, r]``, the weighted share of votes for ``a`` over ``b`` (step 1), and ``|x_a - x_b|``.

    Voter ``k``'s vote ``w_k (|x_k - x_b| - |x_k - x_a|)`` is, for ``x_a < x_b``,
    ``w_k * clip(2 (m - x_k), -d, d)`` with ``m`` the midpoint and ``d = x_b - x_a``.
    So the sums over voters are prefix sums of ``w`` and ``w x`` over the sorted
    positions, read at the ranks of ``x_a``, ``m`` and ``x_b``. ``z`` and ``w`` are
    ``(actors, rows)``: the rows are the innermost axis, so every pairwise operation
    runs over long contiguous arrays.

    The vote sums are symmetric in ``a`` and ``b``, so they are computed once per
    unordered pair. The prefix sums never decrease (weights and positions are
    non-negative), so the sum read at the lower of two ranks is the lower of the two
    sums. The diagonal (an actor against itself) is 0; it is never used.
    """
    a_count, rows = z.shape
    order = np.argsort(z, axis=0)
    zs, ws = np.take_along_axis(z, order, axis=0), np.take_along_axis(w, order, axis=0)
    zero = np.zeros((1, rows))
    c0 = np.concatenate([zero, np.cumsum(ws, axis=0)], axis=0)
    c1 = np.concatenate([zero, np.cumsum(ws * zs, axis=0)], axis=0)
    count = _count_dtype(a_count)
    stride = np.intp(rows)  # a NumPy integer, so the uint8 counts widen to intp
    column = np.arange(rows, dtype=np.intp)
    at_or_below = (zs[:, None, :] <= z).view(np.uint8).sum(axis=0, dtype=count) * stride + column
    below = (zs[:, None, :] < z).view(np.uint8).sum(axis=0, dtype=count) * stride + column
    flat0, flat1 = c0.ravel(), c1.ravel()
    first, second = _pairs(a_count)
    za, zb = z[first], z[second]
    mid, gap = (za + zb) / 2, np.abs(za - zb)
    ca0, ca1 = flat0[at_or_below], flat1[at_or_below]  # weight of the voters x_k <= x_a
    cb0, cb1 = flat0[below], flat1[below]  # weight of the voters x_k < x_a
    w_lo, m_lo = np.minimum(ca0[first], ca0[second]), np.minimum(ca1[first], ca1[second])  # x_k <= lo
    w_hi, m_hi = np.maximum(cb0[first], cb0[second]), np.maximum(cb1[first], cb1[second])  # x_k < hi
    # voters below each midpoint (those exactly at it vote 0 either way)
    i_mid = (zs[:, None, :] < mid).view(np.uint8).sum(axis=0, dtype=count) * stride + column
    w_mid, m_mid = flat0[i_mid], flat1[i_mid]
    left = gap * w_lo + 2 * mid * (w_mid - w_lo) - 2 * (m_mid - m_lo)
    right = gap * (c0[-1] - w_hi) + 2 * (m_hi - m_mid) - 2 * mid * (w_hi - w_mid)
    total = left + right
    share = np.zeros((a_count, a_count, rows))
    with np.errstate(invalid="ignore", divide="ignore"):
        share[first, second] = np.where(total > 0, np.where(za < zb, left, right) / total, 0.0)
        share[second, first] = np.where(total > 0, np.where(zb < za, left, right) / total, 0.0)
    return share, np.abs(z[:, None, :] - z[None, :, :])


@cache
def _pairs(a_count: int) -> tuple[IntArray, IntArray]:
    """The unordered pairs ``a < b`` of ``a_count`` actors, as two index arrays."""
    first, second = np.triu_indices(a_count, k=1)
    return first.astype(np.intp), second.astype(np.intp)


def _challenge(p: FloatArray, s_target: FloatArray, success: FloatArray, failure: FloatArray) -> FloatArray:
    """Step 3 without the status quo term: ``s_b (P U_s + (1 - P) U_f) + (1 - s_b) U_s``, in place."""
    out = p * success
    out += (1 - p) * failure
    out *= s_target
    out += (1 - s_target) * success
    return out


def _risk(p: FloatArray, d: FloatArray, s: FloatArray, pair: BoolArray, present: BoolArray) -> FloatArray:
    """Step 4: each actor's risk exponent from its danger relative to the others' (``(actors, rows)``)."""
    half = 0.5 * d  # r = 1: x ** 1 == x exactly, and U_q = 0
    success, failure = 2 - 4 * (0.5 - half), 2 - 4 * (0.5 + half)
    eu = _challenge(p, s[None, :, :], success, failure)  # eu[j, i] = EU(j challenges i)
    danger = np.where(pair, eu, 0.0).sum(axis=0)
    high = np.where(present, danger, -np.inf).max(axis=0)
    low = np.where(present, danger, np.inf).min(axis=0)
    spread = high - low
    with np.errstate(invalid="ignore", divide="ignore"):  # absent actors' R may be anything; dropped
        big_r = np.where(spread > 0, (2 * danger - high - low) / spread, 0.0)
        return np.where(present, (1 - big_r / 3) / (1 + big_r / 3), 1.0)


def _round(z: FloatArray, s: FloatArray, w: FloatArray, present: BoolArray, pair: BoolArray) -> FloatArray:
    """One round of challenges and offers (steps 1-5) on ``(actors, rows)``; returns the new positions."""
    p, d = _win_probability(z, w)
    r = _risk(p, d, s, pair, present)[:, None, :]  # i's exponent on row i
    half = 0.5 * d  # d is symmetric and r is i's: the same utilities for both directions
    success = np.power(0.5 - half, r)
    success *= 4
    np.subtract(2, success, out=success)
    failure = np.power(0.5 + half, r)
    failure *= 4
    np.subtract(2, failure, out=failure)
    status_quo = 2 - 4 * 0.5**r
    e = _challenge(p, s[None, :, :], success, failure)  # e[i, j] = EU(i challenges j) in i's eyes
    e -= status_quo
    f = _challenge(p.transpose(1, 0, 2), s[:, None, :], success, failure)  # f[i, j] = EU(j challenges i)
    f -= status_quo
    valid = pair & (d > 0)
    zi, zj = z[:, None, :], z[None, :, :]
    confront = valid & (f > e) & (e > 0)
    loses = valid & (f > 0) & (e < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        partial = zi + (zj - zi) * np.abs(e / f)
    target = np.where(loses & (f > -e), partial, zj)
    move = np.where(confront | loses, np.abs(target - zi), np.inf)
    best = np.argmin(move, axis=1)[:, None, :]  # the first of equal moves, as along the last axis
    chosen = np.take_along_axis(target, best, axis=1)[:, 0, :]
    has_offer = np.isfinite(np.take_along_axis(move, best, axis=1)[:, 0, :])
    return np.where(has_offer, chosen, z)


def _block_rounds(x: FloatArray, s: FloatArray, w: FloatArray, present: BoolArray, rounds: int) -> FloatArray:
    """Rescale one block of ``(actors, rows)`` to [0, 1], run the rounds, and scale back."""
    low = np.where(present, x, np.inf).min(axis=0)
    high = np.where(present, x, -np.inf).max(axis=0)
    span = np.where(np.isfinite(high - low) & (high > low), high - low, 1.0)
    base = np.where(np.isfinite(low), low, 0.0)
    z = np.where(present, (x - base) / span, 0.0)
    pair = present[:, None, :] & present[None, :, :] & ~np.eye(x.shape[0], dtype=bool)[:, :, None]
    for _ in range(rounds):
        z = _round(z, s, w, present, pair)
    return np.where(present, base + span * z, x)


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
    shape = inputs.positions.shape
    a_count = shape[-1]
    x = inputs.positions.reshape(-1, a_count).T  # (actors, rows): see _win_probability
    present = inputs.present.reshape(-1, a_count).T
    s = (inputs.saliences / 100.0).reshape(-1, a_count).T
    w = inputs.weights.reshape(-1, a_count).T
    out = np.empty_like(x)
    for lo in range(0, x.shape[1], BLOCK_ROWS):
        block = np.s_[:, lo : lo + BLOCK_ROWS]
        out[block] = _block_rounds(
            np.ascontiguousarray(x[block]),
            np.ascontiguousarray(s[block]),
            np.ascontiguousarray(w[block]),
            np.ascontiguousarray(present[block]),
            rounds,
        )
    return np.ascontiguousarray(out.T).reshape(shape)


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
