"""The vectorised engine: many stacked-alternating-offers negotiations at once, by the reference rules.

The agents of :mod:`backchannel.negotiation.engine` are time-based: what a party would offer, and the
threshold it accepts at, depend only on the round, never on the opponent. So the engine works in two
vectorised steps:

1. **Prepare, per profile and party** (:func:`prepare`): sort the utilities once (ties by outcome
   index), compute the threshold of every round ``thr[k]`` with the reference's own scalar
   :func:`~backchannel.negotiation.engine.aspiration` (so the floats are bit-identical), and look up
   the offer of every round with one ``searchsorted`` ("the outcome with the LOWEST utility among
   outcomes with u_p(o) >= thr(t)").
2. **Play, per negotiation** (:func:`play`): gather the responder's utility of each of the opener's
   offers and the opener's utility of each counter-offer, compare with the thresholds ("accept the
   standing offer o iff thr(t) <= u_p(o) <= u_hi"), and take the first event in protocol order. The
   events of round ``k`` are: the opener responds to the standing counter-offer (``k >= 1``), the
   opener proposes, the responder responds, the responder proposes; a party with nothing to offer ends
   the negotiation (the reference's ``no_offer`` rule).

The result is the reference engine's agreement in the same round, for every negotiation; the tests
check this on every profile and opener of the shared scenario and on random scenarios.

This module is pure NumPy: no clock, no randomness, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.engine import aspiration, relative_time
from backchannel.negotiation.scenario import Scenario

__all__ = ["CHUNK", "BatchResult", "PartySchedule", "play", "play_scenario", "prepare", "prepare_scenario"]


@dataclass(frozen=True, slots=True)
class PartySchedule:
    """One party's time-based behaviour over a batch of profiles.

    Attributes:
        utilities: ``(P, n_outcomes)`` utility of every outcome, per profile.
        thresholds: ``(P, n_rounds)`` acceptance threshold in each round.
        offers: ``(P, n_rounds)`` outcome index offered in each round (``-1``: nothing to offer).
        u_hi: ``(P,)`` best utility.
    """

    utilities: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    offers: NDArray[np.intp]
    u_hi: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of each negotiation of a batch.

    Attributes:
        agreement: Agreed outcome index per negotiation, ``-1`` for none.
        rounds: ``k + 1`` for an agreement (or end) in round ``k``, ``n_rounds`` on timeout.
    """

    agreement: NDArray[np.intp]
    rounds: NDArray[np.intp]


def _aspirations(
    exponents: NDArray[np.float64], maxima: NDArray[np.float64], n_rounds: int
) -> NDArray[np.float64]:
    """``a(t_k)`` per profile and round, computed by the reference's scalar function per distinct curve."""
    curves, inverse = np.unique(np.column_stack((exponents, maxima)), axis=0, return_inverse=True)
    table = np.array(
        [[aspiration(relative_time(k, n_rounds), e, m) for k in range(n_rounds)] for e, m in curves],
        dtype=np.float64,
    )
    return table[inverse.reshape(-1)]


def prepare(  # noqa: PLR0913 - the arrays of one party's curve, named rather than bundled
    utilities: NDArray[np.float64],
    reserved: NDArray[np.float64],
    exponents: NDArray[np.float64],
    *,
    n_rounds: int,
    tolerance: float,
    max_aspiration: NDArray[np.float64] | None = None,
) -> PartySchedule:
    """Compute one party's thresholds and offers in every round, for a batch of profiles.

    Args:
        utilities: ``(P, n_outcomes)`` float64 utilities.
        reserved: ``(P,)`` reserved values.
        exponents: ``(P,)`` aspiration exponents.
        n_rounds: The deadline.
        tolerance: Subtracted from the threshold.
        max_aspiration: ``(P,)`` maxima (default 1).

    Returns:
        The party's schedule.

    Raises:
        ConfigurationError: Shapes that do not fit.
    """
    u = np.asarray(utilities, dtype=np.float64)
    n_profiles = u.shape[0]
    if u.ndim != 2 or reserved.shape != (n_profiles,) or exponents.shape != (n_profiles,) or n_rounds < 1:
        raise ConfigurationError(
            "utilities: expected (P, n_outcomes) with one reserved value and exponent per row"
        )
    maxima = np.ones(n_profiles) if max_aspiration is None else np.asarray(max_aspiration, dtype=np.float64)
    u_hi = u.max(axis=1)
    u_lo = np.maximum(u.min(axis=1), reserved)
    a = _aspirations(exponents, maxima, n_rounds)
    # thr(t) = max(u_lo, u_lo + a(t) * (u_hi - u_lo) - tolerance), in the reference's operation order
    thresholds = np.maximum(u_lo[:, None], u_lo[:, None] + a * (u_hi - u_lo)[:, None] - tolerance)
    order = np.argsort(u, axis=1, kind="stable")
    ranked = np.take_along_axis(u, order, axis=1)
    offers = np.empty((n_profiles, n_rounds), dtype=np.intp)
    n_outcomes = u.shape[1]
    for p in range(n_profiles):
        position = np.searchsorted(ranked[p], thresholds[p], side="left")
        offers[p] = np.where(position < n_outcomes, order[p, np.minimum(position, n_outcomes - 1)], -1)
    return PartySchedule(u, thresholds, offers, u_hi)


def _accepts(
    utilities: NDArray[np.float64],
    cells: NDArray[np.intp],
    offers: NDArray[np.intp],
    thresholds: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Whether the responding party accepts each offer: ``thr <= u(o) <= u_hi`` (an offer ``-1`` never).

    ``u(o) <= u_hi`` always holds here (``u_hi`` is the maximum over the same utilities), so only the
    threshold is compared. ``utilities`` is the flat ``(2 * P * n_outcomes,)`` table and ``cells`` the
    ``(N, rounds)`` flat positions of the responder's utility of each offer: only the offered outcomes'
    utilities are gathered, never a whole row.
    """
    accepted: NDArray[np.bool_] = (offers >= 0) & (thresholds <= np.take(utilities, cells))
    return accepted


CHUNK = 2048
"""Negotiations played per vectorised step (keeps the per-round arrays in cache)."""


def _first(events: NDArray[np.bool_]) -> NDArray[np.intp]:
    """The first column at which each row's event happens (the number of columns when it never does)."""
    if events.shape[1] == 0:
        return np.full(len(events), events.shape[1], dtype=np.intp)  # no round: never
    first = np.argmax(events, axis=1)
    rounds: NDArray[np.intp] = np.where(events[np.arange(len(events)), first], first, events.shape[1])
    return rounds


def play(
    a: PartySchedule, b: PartySchedule, profiles: NDArray[np.intp], opener_is_a: NDArray[np.bool_]
) -> BatchResult:
    """Play a batch of negotiations (in chunks of :data:`CHUNK`).

    Args:
        a: Party A's schedule over the profiles.
        b: Party B's schedule over the same profiles.
        profiles: ``(N,)`` profile row of each negotiation.
        opener_is_a: ``(N,)`` whether A proposes first.

    Returns:
        Agreement and rounds per negotiation.
    """
    profiles = np.asarray(profiles, dtype=np.intp)
    opener = np.where(np.asarray(opener_is_a, dtype=np.bool_), 0, 1).astype(np.intp)  # 0: A opens
    offers = np.stack((a.offers, b.offers))
    n_profiles, n_outcomes = a.utilities.shape
    # where the OTHER party's utility of each offer sits in the flat utility table (offers -1 -> 0)
    other_rows = (np.array([1, 0])[:, None] * n_profiles + np.arange(n_profiles)[None, :]) * n_outcomes
    stacked = _Stacked(
        offers,
        np.stack((a.thresholds, b.thresholds)),
        np.stack((a.utilities, b.utilities)).reshape(-1),
        other_rows[:, :, None] + np.maximum(offers, 0),
        bool((offers < 0).any()),
    )
    agreement = np.empty(len(profiles), dtype=np.intp)
    rounds = np.empty(len(profiles), dtype=np.intp)
    for start in range(0, len(profiles), CHUNK):
        part = slice(start, start + CHUNK)
        agreement[part], rounds[part] = _play_chunk(stacked, profiles[part], opener[part])
    return BatchResult(agreement, rounds)


@dataclass(frozen=True, slots=True)
class _Stacked:
    """Both parties' schedules stacked on a leading party axis (0: A, 1: B)."""

    offers: NDArray[np.intp]
    thresholds: NDArray[np.float64]
    utilities: NDArray[np.float64]  # flat: party, profile, outcome
    cells: NDArray[np.intp]  # (2, P, rounds): flat position of the other party's utility of each offer
    may_run_dry: bool  # whether any party ever has nothing to offer (the no_offer rule)


def _play_chunk(
    s: _Stacked, profiles: NDArray[np.intp], opener: NDArray[np.intp]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Agreement and rounds of one chunk.

    The events of round ``k``, in order (event number ``4k + kind``): the opener responds (``k >= 1``),
    the opener proposes, the responder responds, the responder proposes.
    """
    responder = 1 - opener
    n_rounds = s.offers.shape[2]
    offers_o, offers_r = s.offers[opener, profiles], s.offers[responder, profiles]
    accept_r = _accepts(s.utilities, s.cells[opener, profiles], offers_o, s.thresholds[responder, profiles])
    accept_o = _accepts(
        s.utilities,
        s.cells[responder, profiles][:, :-1],
        offers_r[:, :-1],
        s.thresholds[opener, profiles][:, 1:],
    )
    # event number 4k + kind; accept_o[:, j] is the opener's response in round j + 1
    candidates = [4 * (_first(accept_o) + 1), 4 * _first(accept_r) + 2]
    if s.may_run_dry:
        candidates += [4 * _first(offers_o < 0) + 1, 4 * _first(offers_r < 0) + 3]
    event = np.minimum.reduce(candidates)
    happened = event < 4 * n_rounds
    k, kind = np.minimum(event // 4, n_rounds - 1), event % 4
    rows = np.arange(len(profiles))
    agreed = np.where(kind == 0, offers_r[rows, np.maximum(k - 1, 0)], offers_o[rows, k])
    agreement = np.where(happened & ((kind == 0) | (kind == 2)), agreed, -1)
    return agreement, np.where(happened, k + 1, n_rounds)


def prepare_scenario(
    scenario: Scenario, profiles: Sequence[int] | None = None
) -> tuple[PartySchedule, PartySchedule]:
    """Both parties' schedules for the given profiles of a scenario (all by default)."""
    chosen = range(len(scenario.profiles)) if profiles is None else profiles
    schedules = []
    for party in ("A", "B"):
        prefs = [scenario.profiles[p].a if party == "A" else scenario.profiles[p].b for p in chosen]
        spec = scenario.agents[party]
        schedules.append(
            prepare(
                np.stack([pref.utilities(scenario.space) for pref in prefs]),
                np.array([pref.reserved_value for pref in prefs]),
                np.full(len(prefs), spec.exponent),
                n_rounds=scenario.n_rounds,
                tolerance=scenario.tolerance,
                max_aspiration=np.full(len(prefs), spec.max_aspiration),
            )
        )
    return schedules[0], schedules[1]


def play_scenario(scenario: Scenario, n: int) -> BatchResult:
    """Play negotiations ``0 .. n-1`` of the scenario's schedule (profile ``i mod P``, alternating openers).

    Raises:
        ConfigurationError: ``n < 1``.
    """
    if n < 1:
        raise ConfigurationError(f"n: must be >= 1 (got {n})")
    a, b = prepare_scenario(scenario)
    i = np.arange(n)
    return play(a, b, i % scenario.n_profiles, (i // scenario.n_profiles) % 2 == 0)
