"""Outcome analysis over an enumerated outcome space: Pareto, Nash, Kalai, welfare, ZOPA, opposition.

Every function takes ``u``, an ``(n_outcomes, n_parties)`` float64 array whose row ``i`` holds each
party's utility for outcome index ``i`` (see :mod:`backchannel.negotiation.space` for the
enumeration), and where needed ``reserved``, a length-``n_parties`` array of reserved values (what
each party gets without an agreement). Results are outcome indices, so they map back to outcomes
through the space.

Definitions (shared with the scenario file ``sao-3x10-boulware-vs-conceder.json``, ``metrics``):

- an outcome is **Pareto-dominated** when another outcome is at least as good for every party and
  strictly better for one; the frontier is the set of undominated outcomes (equal utility vectors
  do not dominate each other, so duplicates are all kept);
- the **Nash point** is the argmax over outcomes with ``u >= r`` for every party of the product of
  ``(u - r)``; it is undefined (``None``) when no outcome gives a positive product;
- ties are broken towards the lowest outcome index (the scenario's profiles have no ties, so the
  rule only matters elsewhere).

This module does not play negotiations, read files or draw pictures; it is pure NumPy.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from backchannel.errors import ConfigurationError

__all__ = [
    "distance",
    "kalai_point",
    "max_welfare_point",
    "nash_point",
    "opposition",
    "pareto_frontier",
    "pareto_mask",
    "zopa",
]


def _utilities(u: ArrayLike) -> NDArray[np.float64]:
    """Validate ``u`` as a finite ``(n_outcomes >= 1, n_parties >= 1)`` float64 array."""
    array = np.asarray(u, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ConfigurationError(
            f"u: expected a non-empty (n_outcomes, n_parties) array, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ConfigurationError("u: every utility must be finite (found NaN or infinity)")
    return array


def _reserved(reserved: ArrayLike, n_parties: int) -> NDArray[np.float64]:
    """Validate ``reserved`` as a finite float64 vector with one value per party."""
    array = np.asarray(reserved, dtype=np.float64)
    if array.shape != (n_parties,):
        raise ConfigurationError(
            f"reserved: expected one reserved value per party ({n_parties}), got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ConfigurationError("reserved: every reserved value must be finite")
    return array


def pareto_mask(u: ArrayLike) -> NDArray[np.bool_]:
    """Which outcomes are Pareto-optimal (undominated).

    Two parties take O(n log n): sort by the first party's utility, then one sweep of the running
    maximum of the second's. More parties sort by total utility (a dominating outcome always sorts
    first) and compare each outcome with the frontier found so far: O(n * frontier * k).

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.

    Returns:
        A boolean array, ``True`` at undominated outcome indices.

    Raises:
        ConfigurationError: ``u`` is not a non-empty finite 2-D array.
    """
    array = _utilities(u)
    if array.shape[1] == 1:
        return np.asarray(array[:, 0] == array[:, 0].max(), dtype=np.bool_)
    if array.shape[1] == 2:
        return _pareto_mask_2d(array)
    return _pareto_mask_kd(array)


def _pareto_mask_2d(u: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Bilateral frontier by one sort and a sweep.

    An outcome is undominated iff it is the best in its group of equal u0 and strictly above every
    outcome with a larger u0.
    """
    first, second = u[:, 0], u[:, 1]
    order = np.lexsort((-second, -first))  # u0 descending, then u1 descending
    s_first, s_second = first[order], second[order]
    starts = np.flatnonzero(np.r_[True, s_first[1:] != s_first[:-1]])
    group = np.cumsum(np.r_[True, s_first[1:] != s_first[:-1]]) - 1
    group_best = s_second[starts][group]
    running = np.maximum.accumulate(s_second)
    before = np.full(starts.shape, -np.inf)
    before[1:] = running[starts[1:] - 1]
    keep = (s_second == group_best) & (s_second > before[group])
    mask = np.zeros(u.shape[0], dtype=np.bool_)
    mask[order[keep]] = True
    return mask


def _pareto_mask_kd(u: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Frontier for any number of parties.

    A dominator sorts before what it dominates (by total, then lexicographically), so comparing each
    outcome with the frontier found so far is enough.
    """
    keys = [-u[:, k] for k in range(u.shape[1] - 1, -1, -1)]
    order = np.lexsort((*keys, -u.sum(axis=1)))
    frontier = np.empty((0, u.shape[1]))
    mask = np.zeros(u.shape[0], dtype=np.bool_)
    for index in order:
        row = u[index]
        dominated = np.any(np.all(frontier >= row, axis=1) & np.any(frontier > row, axis=1))
        if not dominated:
            mask[index] = True
            frontier = np.vstack((frontier, row))
    return mask


def pareto_frontier(u: ArrayLike) -> NDArray[np.intp]:
    """The indices of the Pareto-optimal outcomes, in increasing index order.

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.

    Returns:
        The undominated outcome indices.

    Raises:
        ConfigurationError: ``u`` is not a non-empty finite 2-D array.
    """
    return np.flatnonzero(pareto_mask(u))


def zopa(u: ArrayLike, reserved: ArrayLike) -> NDArray[np.intp]:
    """The zone of possible agreement: outcomes individually rational for every party (``u >= r``).

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.
        reserved: One reserved value per party.

    Returns:
        The indices of the outcomes every party weakly prefers to no agreement, increasing.

    Raises:
        ConfigurationError: Malformed ``u`` or ``reserved``.
    """
    array = _utilities(u)
    return np.flatnonzero(np.all(array >= _reserved(reserved, array.shape[1]), axis=1))


def nash_point(u: ArrayLike, reserved: ArrayLike) -> int | None:
    """The Nash bargaining point (the scenario file's ``metrics.nash_point``).

    "argmax over outcomes with u_A >= r_A and u_B >= r_B of (u_A - r_A) * (u_B - r_B); undefined
    if no outcome gives a positive product (no zone of agreement)", generalised to any number of
    parties. Ties go to the lowest outcome index.

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.
        reserved: One reserved value per party.

    Returns:
        The outcome index of the Nash point, or ``None`` if no outcome has a positive product.

    Raises:
        ConfigurationError: Malformed ``u`` or ``reserved``.
    """
    array = _utilities(u)
    gains = array - _reserved(reserved, array.shape[1])
    product = np.where(np.all(gains >= 0, axis=1), np.prod(gains, axis=1), -np.inf)
    best = int(np.argmax(product))
    return best if product[best] > 0 else None


def kalai_point(u: ArrayLike, reserved: ArrayLike) -> int | None:
    """The (discrete) Kalai-Smorodinsky point.

    Among individually rational outcomes, maximise the smallest normalised gain
    ``(u_p - r_p) / (ideal_p - r_p)``, where ``ideal_p`` is party ``p``'s best utility within the
    zone of agreement (Kalai and Smorodinsky, 1975). Ties go to the larger sum of normalised gains,
    then to the lowest outcome index.

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.
        reserved: One reserved value per party.

    Returns:
        The outcome index, or ``None`` when no outcome gives every party a positive gain.

    Raises:
        ConfigurationError: Malformed ``u`` or ``reserved``.
    """
    array = _utilities(u)
    gains = array - _reserved(reserved, array.shape[1])
    rational = np.all(gains > 0, axis=1)
    if not rational.any():
        return None
    ideal = gains[rational].max(axis=0)
    normalised = gains / ideal
    worst = np.where(rational, normalised.min(axis=1), -np.inf)
    tied = np.flatnonzero(worst == worst.max())
    return int(tied[np.argmax(normalised[tied].sum(axis=1))])


def max_welfare_point(u: ArrayLike) -> int:
    """The outcome with the largest sum of utilities (utilitarian welfare); ties to the lowest index.

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.

    Returns:
        The outcome index.

    Raises:
        ConfigurationError: ``u`` is not a non-empty finite 2-D array.
    """
    return int(np.argmax(_utilities(u).sum(axis=1)))


def distance(u: ArrayLike, i: int, j: int) -> float:
    """The Euclidean distance between outcomes ``i`` and ``j`` in utility space.

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.
        i: An outcome index.
        j: Another outcome index.

    Returns:
        ``||u[i] - u[j]||_2``.

    Raises:
        ConfigurationError: Malformed ``u`` or an index outside ``[0, n_outcomes)``.
    """
    array = _utilities(u)
    for name, index in (("i", i), ("j", j)):
        if not 0 <= index < array.shape[0]:
            raise ConfigurationError(f"{name}: outcome index {index} outside [0, {array.shape[0]})")
    return float(math.sqrt(float(np.sum((array[i] - array[j]) ** 2))))


def opposition(u: ArrayLike) -> float:
    """The opposition level of a scenario, in ``[0, 1]``.

    The published definition (Baarslag, Fujita, Gerding, Hindriks, Ito, Jennings, Jonker, Kraus,
    Lin, Robu and Williams, "Evaluating practical negotiating agents: Results and analysis of the
    2011 international competition", Artificial Intelligence 198, 2013; also NegMAS's
    ``opposition_level``): the minimum Euclidean distance from any outcome to the point of complete
    satisfaction ``(1, ..., 1)``. Utilities are first min-max normalised per party over the outcome
    space (a party indifferent over all outcomes counts as fully satisfied), and the distance is
    divided by ``sqrt(n_parties)`` so that 0 means one outcome is ideal for everyone and 1 means
    total opposition.

    Args:
        u: ``(n_outcomes, n_parties)`` utilities.

    Returns:
        The normalised opposition level.

    Raises:
        ConfigurationError: ``u`` is not a non-empty finite 2-D array.
    """
    array = _utilities(u)
    low, high = array.min(axis=0), array.max(axis=0)
    span = high - low
    flat = span == 0
    normalised = np.where(flat, 1.0, (array - low) / np.where(flat, 1.0, span))
    gaps = np.sqrt(np.sum((1.0 - normalised) ** 2, axis=1))
    return float(gaps.min() / math.sqrt(array.shape[1]))
