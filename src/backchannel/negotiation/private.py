"""What a party knows and keeps to itself: uncertain preferences, elicitation by points, privacy.

- :class:`PreferenceUncertainty`: what an analyst does not know about a party, as distributions over
  its weights (Dirichlet around a point estimate) and its reserved value (uniform or normal within
  bounds); :meth:`PreferenceUncertainty.sample` draws ``n`` of each from a ``numpy.random.Generator``
  passed in, for Monte Carlo.
- :func:`elicit`: preferences as negotiation-support systems elicit them (INSPIRE, Kersten and
  Noronha 1999; Smartsettle): the party spreads 100 points over the issues (the weights), then 100
  points over the options of each issue; an option is worth its points divided by the issue's best
  option's points, so the best option of an issue carries the issue's whole weight.
- :class:`PrivatePreferences` and :class:`MediatorGrant`: a party's preferences are held by the party.
  They are never shown to another party. The mediator sees them only through an explicit grant from
  the owner naming that mediator; :func:`may_see` is the pure check and :func:`reveal` the raising
  form. Nothing here sends preferences anywhere or changes the server.

This module draws randomness only from the generator it is given and reads no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError, DomainError
from backchannel.negotiation.preferences import LinearAdditivePreferences, TableValue
from backchannel.negotiation.space import OutcomeSpace

__all__ = [
    "MediatorGrant",
    "PreferenceUncertainty",
    "PrivatePreferences",
    "ReservedDistribution",
    "elicit",
    "may_see",
    "reveal",
]

_POINTS = 100.0
_POINTS_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class ReservedDistribution:
    """A reserved value's distribution: ``uniform`` on ``[low, high]``, or ``normal`` clipped to it.

    Attributes:
        kind: ``uniform`` or ``normal``.
        low: The smallest value drawn.
        high: The largest value drawn.
        mean: The normal's mean (ignored for uniform).
        sd: The normal's standard deviation (ignored for uniform).
    """

    kind: Literal["uniform", "normal"]
    low: float
    high: float
    mean: float = 0.0
    sd: float = 0.0

    def __post_init__(self) -> None:
        """Validate the bounds and parameters."""
        if self.kind not in {"uniform", "normal"}:
            raise ConfigurationError(
                f"reserved.kind: unknown distribution {self.kind!r} (known: uniform, normal)"
            )
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ConfigurationError(f"reserved: need finite low <= high (got {self.low}, {self.high})")
        if self.kind == "normal" and not (math.isfinite(self.mean) and self.sd >= 0):
            raise ConfigurationError(f"reserved.sd: must be >= 0 with a finite mean (got {self.sd})")

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """``n`` reserved values drawn from ``rng``."""
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, n)
        return np.clip(rng.normal(self.mean, self.sd, n), self.low, self.high)


@dataclass(frozen=True, slots=True)
class PreferenceUncertainty:
    """Uncertainty about a party's preferences around a point estimate.

    Weights are drawn from ``Dirichlet(concentration * point.weights)`` (mean: the point's weights;
    larger concentration: tighter); a zero weight gets a tiny positive parameter so the draw is
    defined. Value functions stay those of the point.

    Attributes:
        point: The point estimate.
        concentration: The Dirichlet concentration, > 0.
        reserved: The reserved value's distribution (``None``: always the point's).
    """

    point: LinearAdditivePreferences
    concentration: float
    reserved: ReservedDistribution | None = None

    def __post_init__(self) -> None:
        """Validate the concentration."""
        if not (math.isfinite(self.concentration) and self.concentration > 0):
            raise ConfigurationError(f"concentration: must be a finite number > 0 (got {self.concentration})")

    def sample(self, rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Draw ``n`` weight vectors and reserved values.

        Args:
            rng: The generator (the caller logs its seed).
            n: How many draws, >= 1.

        Returns:
            ``(weights, reserved)``: an ``(n, n_issues)`` array whose rows sum to 1, and ``(n,)``.

        Raises:
            ConfigurationError: ``n < 1``.
        """
        if n < 1:
            raise ConfigurationError(f"n: must be >= 1 (got {n})")
        alpha = np.maximum(np.array(self.point.weights) * self.concentration, 1e-6)
        weights = rng.dirichlet(alpha, n)
        reserved = (
            np.full(n, self.point.reserved_value) if self.reserved is None else self.reserved.sample(rng, n)
        )
        return weights, reserved

    def sample_preferences(self, rng: np.random.Generator, n: int) -> list[LinearAdditivePreferences]:
        """``n`` whole preferences (see :meth:`sample`), each with the point's value functions."""
        weights, reserved = self.sample(rng, n)
        out = []
        for row, r in zip(weights, reserved, strict=True):
            w = row.tolist()
            w[-1] = 1.0 - math.fsum(w[:-1])  # exact sum to 1 despite float rounding
            out.append(
                LinearAdditivePreferences(
                    tuple(max(x, 0.0) for x in w), self.point.value_functions, float(r), self.point.discount
                )
            )
        return out


def _check_points(points: Mapping[str, float], known: Iterable[str], path: str) -> dict[str, float]:
    known = list(known)
    unknown = sorted(set(points) - set(known))
    if unknown:
        raise ConfigurationError(f"{path}.{unknown[0]}: unknown (known: {', '.join(known)})")
    out: dict[str, float] = {}
    for name in known:
        value = float(points.get(name, 0.0))
        if not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"{path}.{name}: points must be a finite number >= 0 (got {value})")
        out[name] = value
    total = math.fsum(out.values())
    if abs(total - _POINTS) > _POINTS_TOLERANCE:
        raise ConfigurationError(f"{path}: points must sum to 100 (got {total:g})")
    return out


def elicit(
    space: OutcomeSpace,
    issue_points: Mapping[str, float],
    option_points: Mapping[str, Mapping[str, float]],
    reserved_value: float,
) -> LinearAdditivePreferences:
    """Preferences from 100 points over issues, then 100 points over each issue's options.

    Options are named by ``str(value)`` (``"partial"``, ``"2.5"``, ``"True"``); an option not rated
    gets 0 points. An issue's value table is its options' points over the best option's points.

    Args:
        space: The outcome space (its issues and options).
        issue_points: Issue name -> points; they sum to 100.
        option_points: Issue name -> (option -> points); each issue's sum to 100.
        reserved_value: The party's reserved value.

    Returns:
        The elicited preferences (weights = issue points / 100, one table per issue).

    Raises:
        ConfigurationError: A sum other than 100, negative points or an unknown issue or option,
            naming the field (``option_points.sanctions_relief: points must sum to 100 (got 90)``).
    """
    weights = _check_points(issue_points, space.names, "issue_points")
    unknown = sorted(set(option_points) - set(space.names))
    if unknown:
        raise ConfigurationError(f"option_points.{unknown[0]}: unknown issue")
    tables = []
    for issue in space.issues:
        labels = [str(v) for v in issue.values]
        points = _check_points(option_points.get(issue.name, {}), labels, f"option_points.{issue.name}")
        best = max(points.values())
        tables.append(TableValue(tuple(points[label] / best for label in labels)))
    w = [weights[name] / _POINTS for name in space.names]
    return LinearAdditivePreferences(tuple(w), tuple(tables), float(reserved_value))


@dataclass(frozen=True, slots=True)
class MediatorGrant:
    """A party's explicit permission for one mediator to see its preferences.

    Attributes:
        owner: The party granting.
        mediator: The mediator (party id) allowed to see.
    """

    owner: str
    mediator: str


@dataclass(frozen=True, slots=True)
class PrivatePreferences:
    """A party's preferences, held by the party (its representation never shows them).

    Never shown to another party; the mediator sees them only with a :class:`MediatorGrant` from the
    owner naming it (see :func:`may_see`).

    Attributes:
        owner: The party that owns them.
        preferences: The preferences.
    """

    owner: str
    preferences: LinearAdditivePreferences = field(repr=False)


def may_see(holder: PrivatePreferences, viewer: str, mediator: str, grants: Iterable[MediatorGrant]) -> bool:
    """Whether ``viewer`` may see ``holder``'s preferences (pure; no side effects).

    The rule: the owner always; the track's mediator only with a grant from the owner naming it; any
    other party never (a grant naming someone who is not the mediator grants nothing).

    Args:
        holder: The private preferences.
        viewer: Who asks.
        mediator: The track's mediator.
        grants: The grants in force.
    """
    if viewer == holder.owner:
        return True
    if viewer != mediator:
        return False
    return any(g.owner == holder.owner and g.mediator == mediator for g in grants)


def reveal(
    holder: PrivatePreferences, viewer: str, mediator: str, grants: Iterable[MediatorGrant]
) -> LinearAdditivePreferences:
    """The preferences, for a viewer :func:`may_see` allows.

    Raises:
        DomainError: The viewer may not see them.
    """
    if not may_see(holder, viewer, mediator, grants):
        raise DomainError(
            f"preferences of {holder.owner!r} are private: {viewer!r} holds no grant to see them"
        )
    return holder.preferences
