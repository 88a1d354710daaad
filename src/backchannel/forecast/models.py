"""Bargaining models for issue outcomes on the 0-100 scale, vectorised with NumPy.

Each model maps :class:`BargainingInputs` (positions, saliences and capabilities of
the actors on one or many issues) to a predicted outcome per issue. Every array has
the actors on its last axis; any leading axes (issues, Monte Carlo draws) are
broadcast, so one call evaluates a whole dataset and all its draws at once.

The models (ADR-0037):

- ``compromise``: the capability x salience weighted mean of positions (Achen 2006).
- ``weighted_median``: the capability x salience weighted median of positions.
- ``nash_worst`` / ``nash_reference``: asymmetric Nash bargaining solutions, with
  the disagreement point at each actor's worst point or at the reference point
  (:mod:`backchannel.forecast.models_nash`).
- ``expected_utility``: Bueno de Mesquita's expected-utility (challenge) model as
  set out by Scholz, Calbert and Smith (2011) (:mod:`backchannel.forecast.models_eu`).
- baselines: ``commission`` (the Commission's or the mediator's position),
  ``reference_point``, ``median_actor`` (unweighted median) and ``constant_50``.

Monte Carlo: :func:`perturb` draws uncertain inputs from declared distributions with
a caller's :class:`numpy.random.Generator`, and :func:`predictive_interval` turns a
model's answers over the draws into an interval. This module reads no files and
holds no state; it does not combine models (see :mod:`backchannel.forecast.ensemble`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.dataset import IssueSet

__all__ = [
    "BASELINES",
    "EU15_COUNCIL_VOTES",
    "BargainingInputs",
    "Interval",
    "Model",
    "Uncertainty",
    "commission",
    "compromise",
    "constant_50",
    "median_actor",
    "perturb",
    "predictive_interval",
    "reference_point",
    "weighted_median",
    "weighted_median_of",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Member states' Council votes under QMV in the EU-15 (Treaty of Amsterdam, 87 in all).
EU15_COUNCIL_VOTES: Mapping[str, float] = {
    "de": 10, "fr": 10, "it": 10, "uk": 10, "es": 8, "be": 5, "el": 5, "nl": 5,
    "pt": 5, "at": 4, "se": 4, "dk": 3, "ie": 3, "fi": 3, "lu": 2,
}  # fmt: skip


@dataclass(frozen=True)
class BargainingInputs:
    """Actors' positions, saliences and capabilities on one or many issues.

    Every actor array has shape ``(..., actors)``; ``reference`` and ``commission``
    have the leading shape ``(...)``. Absent actors have ``present`` false; their
    other values are ignored (they carry zero weight).

    Attributes:
        positions: Positions on 0-100.
        saliences: Saliences on 0-100.
        capabilities: Non-negative capabilities (only ratios matter).
        present: Which actors take part in each issue.
        reference: The reference point (status quo); NaN when unknown.
        commission: The Commission's (or mediator's) position; NaN when unknown.
    """

    positions: FloatArray
    saliences: FloatArray
    capabilities: FloatArray
    present: BoolArray
    reference: FloatArray
    commission: FloatArray

    def __post_init__(self) -> None:
        """Check shapes and ranges, naming the field that is wrong.

        Raises:
            DomainError: A shape mismatch or a value out of range.
        """
        shape = self.positions.shape
        for name in ("saliences", "capabilities", "present"):
            if getattr(self, name).shape != shape:
                raise DomainError(f"{name}: shape {getattr(self, name).shape} != positions {shape}")
        for name in ("reference", "commission"):
            if getattr(self, name).shape != shape[:-1]:
                raise DomainError(f"{name}: shape {getattr(self, name).shape} != {shape[:-1]}")
        for name, low, high in (("positions", 0, 100), ("saliences", 0, 100), ("capabilities", 0, np.inf)):
            values = getattr(self, name)[self.present]
            if values.size and not (np.all(values >= low) and np.all(values <= high)):
                raise DomainError(f"{name}: must be in [{low}, {high}] for every present actor")

    @property
    def weights(self) -> FloatArray:
        """Capability x salience of each present actor (0 for absent actors)."""
        return np.where(self.present, self.capabilities * self.saliences, 0.0)

    @classmethod
    def from_issue_set(cls, issues: IssueSet, *, capabilities: str = "equal") -> BargainingInputs:
        """Build inputs from DEU issues.

        Args:
            issues: The issues.
            capabilities: ``"equal"`` (every actor 1) or ``"votes"`` (member states'
                Council votes, :data:`EU15_COUNCIL_VOTES`; the Commission and the
                Parliament get the mean member-state vote).

        Returns:
            The inputs, one row per issue.

        Raises:
            DomainError: An unknown capability scheme or an actor without votes.
        """
        present = ~np.isnan(issues.positions) & ~np.isnan(issues.saliences)
        caps = np.ones(len(issues.actors))
        if capabilities == "votes":
            mean = float(np.mean(list(EU15_COUNCIL_VOTES.values())))
            extra = {"com": mean, "ep": mean}
            unknown = [a for a in issues.actors if a not in EU15_COUNCIL_VOTES and a not in extra]
            if unknown:
                raise DomainError(f"capabilities: no Council votes for actor(s) {', '.join(unknown)}")
            caps = np.array([EU15_COUNCIL_VOTES.get(a, extra.get(a, 0.0)) for a in issues.actors])
        elif capabilities != "equal":
            raise DomainError(f"capabilities: must be 'equal' or 'votes' (got {capabilities!r})")
        return cls(
            positions=np.where(present, issues.positions, 0.0),
            saliences=np.where(present, issues.saliences, 0.0),
            capabilities=np.broadcast_to(caps, issues.positions.shape).copy(),
            present=present,
            reference=issues.reference.copy(),
            commission=issues.commission.copy(),
        )


Model = Callable[[BargainingInputs], FloatArray]


def compromise(inputs: BargainingInputs) -> FloatArray:
    """The compromise model: the capability x salience weighted mean of positions.

    ``x* = sum_i c_i s_i x_i / sum_i c_i s_i`` (Achen 2006, *The European Union
    Decides*, ch. 10; van den Bos 1991). Issues where every weight is zero fall back
    to the unweighted mean of the present actors.
    """
    w = inputs.weights
    total = w.sum(axis=-1)
    plain = _masked_mean(inputs.positions, inputs.present)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = (w * inputs.positions).sum(axis=-1) / total
    return np.where(total > 0, weighted, plain)


def _masked_mean(values: FloatArray, present: BoolArray) -> FloatArray:
    """The mean over present actors (NaN where none is present)."""
    count = present.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, values, 0.0).sum(axis=-1) / np.where(count > 0, count, np.nan)
    return np.asarray(mean, dtype=np.float64)


def weighted_median_of(values: FloatArray, weights: FloatArray) -> FloatArray:
    """The weighted median along the last axis (the midpoint where the weight splits exactly in half).

    The lower median is the smallest value whose cumulative weight reaches half the
    total; the upper median is the smallest whose cumulative weight exceeds it. The
    result is their mean, so two equal weights at 0 and 100 give 50, as the
    unweighted median does. Zero-weight entries never count. All-zero weights give NaN.
    """
    order = np.argsort(values, axis=-1, kind="stable")
    xs = np.take_along_axis(values, order, axis=-1)
    cum = np.cumsum(np.take_along_axis(weights, order, axis=-1), axis=-1)
    total = cum[..., -1:]
    half, tol = total / 2, 1e-9 * total
    lower = np.argmax(cum >= half - tol, axis=-1)[..., None]
    upper = np.argmax(cum > half + tol, axis=-1)[..., None]
    mid = (np.take_along_axis(xs, lower, axis=-1) + np.take_along_axis(xs, upper, axis=-1)) / 2
    return np.where(total[..., 0] > 0, mid[..., 0], np.nan)


def weighted_median(inputs: BargainingInputs) -> FloatArray:
    """The weighted median: the position of the pivotal actor when weights are capability x salience.

    In one dimension with single-peaked preferences this is the position that no
    weighted majority can defeat (Black 1948), the "median voter" forecast that
    Bueno de Mesquita's model starts from.
    """
    return weighted_median_of(inputs.positions, inputs.weights)


def median_actor(inputs: BargainingInputs) -> FloatArray:
    """Baseline: the unweighted median of the present actors' positions."""
    return weighted_median_of(inputs.positions, inputs.present.astype(np.float64))


def commission(inputs: BargainingInputs) -> FloatArray:
    """Baseline: the Commission's (or, on a live track, the mediator's) position."""
    return inputs.commission.copy()


def reference_point(inputs: BargainingInputs) -> FloatArray:
    """Baseline: the reference point (status quo); NaN where it is unknown."""
    return inputs.reference.copy()


def constant_50(inputs: BargainingInputs) -> FloatArray:
    """Baseline: the middle of the scale, 50, whatever the inputs."""
    return np.full(inputs.positions.shape[:-1], 50.0)


#: The baselines by name, in the order they are reported.
BASELINES: Mapping[str, Model] = {
    "commission": commission,
    "reference_point": reference_point,
    "median_actor": median_actor,
    "constant_50": constant_50,
}


@dataclass(frozen=True)
class Uncertainty:
    """Declared input uncertainty for the Monte Carlo.

    Attributes:
        position_sd: Standard deviation of additive normal noise on positions and the
            reference point (points on 0-100); draws are clipped to [0, 100].
        salience_sd: Standard deviation of additive normal noise on saliences, clipped to [0, 100].
        capability_sigma: Sigma of multiplicative log-normal noise on capabilities.
    """

    position_sd: float = 10.0
    salience_sd: float = 10.0
    capability_sigma: float = 0.2

    def __post_init__(self) -> None:
        """Refuse negative or non-finite spreads.

        Raises:
            DomainError: A spread that is negative or not finite.
        """
        for name in ("position_sd", "salience_sd", "capability_sigma"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise DomainError(f"uncertainty.{name}: must be finite and >= 0 (got {value})")


def perturb(
    inputs: BargainingInputs, uncertainty: Uncertainty, rng: np.random.Generator, draws: int
) -> BargainingInputs:
    """Draw ``draws`` perturbed copies of the inputs (a new leading axis).

    The Commission's position is perturbed like any position (independently of the
    Commission's actor row, which may be absent).

    Args:
        inputs: The point inputs.
        uncertainty: The declared distributions.
        rng: The random generator (callers seed it and log the seed).
        draws: How many draws, at least 1.

    Returns:
        Inputs of shape ``(draws, ...)``.

    Raises:
        DomainError: ``draws`` below 1.
    """
    if draws < 1:
        raise DomainError(f"draws: must be >= 1 (got {draws})")
    shape = (draws, *inputs.positions.shape)

    def jitter(values: FloatArray, sd: float) -> FloatArray:
        noise = (
            rng.normal(0.0, sd, size=(draws, *values.shape)) if sd > 0 else np.zeros((draws, *values.shape))
        )
        return np.clip(values + noise, 0.0, 100.0)

    noise = rng.lognormal(0.0, uncertainty.capability_sigma, size=shape)
    return BargainingInputs(
        positions=jitter(inputs.positions, uncertainty.position_sd),
        saliences=jitter(inputs.saliences, uncertainty.salience_sd),
        capabilities=inputs.capabilities * noise,
        present=np.broadcast_to(inputs.present, shape),
        reference=jitter(inputs.reference, uncertainty.position_sd),
        commission=jitter(inputs.commission, uncertainty.position_sd),
    )


@dataclass(frozen=True)
class Interval:
    """A model's point forecast with a Monte Carlo predictive interval.

    Attributes:
        point: The forecast on the unperturbed inputs.
        low: The lower quantile over the draws.
        high: The upper quantile over the draws.
        level: The interval's nominal coverage, e.g. 0.95.
    """

    point: FloatArray
    low: FloatArray
    high: FloatArray
    level: float


def predictive_interval(  # noqa: PLR0913 - the model, its inputs, then keyword-only settings
    model: Model,
    inputs: BargainingInputs,
    uncertainty: Uncertainty,
    rng: np.random.Generator,
    *,
    draws: int = 200,
    level: float = 0.95,
) -> Interval:
    """Run ``model`` on the inputs and on ``draws`` perturbed copies; report the central interval.

    Args:
        model: Any model of this module (or a baseline).
        inputs: The point inputs.
        uncertainty: The declared input distributions.
        rng: The random generator.
        draws: Monte Carlo draws.
        level: Central coverage of the interval, in (0, 1).

    Returns:
        The point forecast and the interval, per issue.

    Raises:
        DomainError: ``level`` outside (0, 1) or ``draws`` below 1.
    """
    if not 0 < level < 1:
        raise DomainError(f"level: must be in (0, 1) (got {level})")
    sample = model(perturb(inputs, uncertainty, rng, draws))
    tail = (1 - level) / 2
    with warnings.catch_warnings():  # issues with no finite draw (e.g. no reference point) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(sample, [tail, 1 - tail], axis=0)
    return Interval(point=model(inputs), low=np.asarray(low), high=np.asarray(high), level=level)
