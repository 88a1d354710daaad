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
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.models import BargainingInputs, weighted_median_of

__all__ = ["DEFAULT_ROUNDS", "expected_utility", "expected_utility_rounds"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Rounds of challenges before the forecast is read off.
DEFAULT_ROUNDS = 4


def _win_probability(z: FloatArray, w: FloatArray) -> FloatArray:
    """``P[..., a, b]``: the weighted share of votes for ``a`` over ``b`` (step 1).

    Accumulates over voters ``k`` one at a time: the same sums as the
    ``(k, a, b)`` array, without holding it in memory.
    """
    positive = np.zeros((*z.shape, z.shape[-1]))
    total = np.zeros_like(positive)
    for k in range(z.shape[-1]):
        to_k = np.abs(z - z[..., k : k + 1])  # |x_k - x_a| for every a
        votes = w[..., k, None, None] * (to_k[..., None, :] - to_k[..., :, None])
        positive += np.maximum(votes, 0.0)
        total += np.abs(votes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, positive / total, 0.0)


def _challenge(p: FloatArray, d: FloatArray, s_target: FloatArray, r: FloatArray) -> FloatArray:
    """Steps 2-3: the expected utility of a challenge, elementwise."""
    success = 2 - 4 * (0.5 - 0.5 * d) ** r
    failure = 2 - 4 * (0.5 + 0.5 * d) ** r
    status_quo = 2 - 4 * 0.5**r
    return s_target * (p * success + (1 - p) * failure) + (1 - s_target) * success - status_quo


def _risk(p: FloatArray, d: FloatArray, s: FloatArray, present: BoolArray) -> FloatArray:
    """Step 4: each actor's risk exponent from its danger relative to the others'."""
    pair = present[..., :, None] & present[..., None, :] & ~np.eye(present.shape[-1], dtype=bool)
    eu = _challenge(p, d, s[..., None, :], np.ones_like(d))  # eu[j, i] = EU(j challenges i)
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
    e = _challenge(p, d, s[..., None, :], r)  # e[i, j] = EU(i challenges j) in i's eyes
    f = _challenge(np.swapaxes(p, -1, -2), d, s[..., :, None], r)  # f[i, j] = EU(j challenges i)
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
