"""Rejection risk: how likely a proposal is to be rejected, shown with its inputs (issue #15 item 4).

What it does: a logistic regression, fitted in NumPy (Newton-Raphson with a
small ridge), on three inputs:

- **severity**: how conflictual the proposal's language is, ``-min(goldstein, 0) / 10``
  from its escalation coding (0 when it has no negative code; 0.7 for an ultimatum);
- **distance**: how far its values are from the recipient's last stated
  position, the mean over the agenda's issues of ``|proposed - position| / range``
  (numeric issues) or ``|rank difference| / (options - 1)`` (ordered options);
- **worsening**: the recent trend of the exchange, the least-squares slope of
  the last messages' most conflictual Goldstein weights, negated and scaled:
  ``clip(-slope / 5, -1, 1)`` (positive when the exchange is getting worse).

A :class:`RiskScore` always carries its inputs and each input's contribution to
the log-odds; it is never a bare number. :meth:`RiskModel.simulated` fits the
model on a documented simulation (:func:`simulate_exchanges`) drawn from a
``numpy.random.Generator`` the caller passes in, and reports calibration on a
held-out part (Brier score, log loss, expected calibration error, a reliability
table).

What it does not do: learn from real negotiations (no labelled history exists
yet; the simulation's assumptions are the model's), or decide anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.language.coding import Coding

__all__ = [
    "TRUE_COEFFICIENTS",
    "Calibration",
    "IssueScale",
    "RiskInputs",
    "RiskModel",
    "RiskScore",
    "exchange_trend",
    "position_distance",
    "simulate_exchanges",
]

FEATURES = ("severity", "distance", "worsening")
TRUE_COEFFICIENTS = (-2.0, 3.0, 3.5, 1.5)
"""The simulation's recipients: intercept, then one weight per feature (log-odds)."""
_TREND_WINDOW = 6

IssueScale = tuple[float, float] | Sequence[str]
"""An issue's scale: a numeric ``(low, high)`` range, or its options in order (``["none", "full"]``)."""

Array = npt.NDArray[np.float64]


def _issue_distance(name: str, proposed: object, position: object, scale: IssueScale) -> float:
    if isinstance(scale, tuple) and len(scale) == 2 and all(isinstance(v, int | float) for v in scale):
        low, high = float(scale[0]), float(scale[1])
        if not high > low:
            raise ConfigurationError(f"issues.{name}: the range must have high > low (got {scale})")
        values = []
        for label, value in (("proposal", proposed), ("position", position)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
                raise EncodingError(
                    f"{label}.{name}: must be a number from {low:g} to {high:g} (got {value!r})"
                )
            values.append(float(value))
        return abs(values[0] - values[1]) / (high - low)
    options = [str(option) for option in scale]
    if len(options) < 2:
        raise ConfigurationError(f"issues.{name}: needs a (low, high) range or at least two options")
    ranks = []
    for label, value in (("proposal", proposed), ("position", position)):
        if value not in options:
            raise EncodingError(f"{label}.{name}: must be one of {'|'.join(options)} (got {value!r})")
        ranks.append(options.index(value))
    return abs(ranks[0] - ranks[1]) / (len(options) - 1)


def position_distance(
    proposal: Mapping[str, object], position: Mapping[str, object], issues: Mapping[str, IssueScale]
) -> tuple[float, dict[str, float]]:
    """How far a proposal is from the recipient's last stated position.

    Args:
        proposal: The proposal's value per issue.
        position: The recipient's last stated value per issue.
        issues: Each issue's scale.

    Returns:
        The mean normalised distance (0 to 1) over the issues the proposal names,
        and the distance per issue.

    Raises:
        EncodingError: An unknown issue, or a value outside its issue's scale (naming it).
        ConfigurationError: A malformed scale.
    """
    if not proposal:
        raise EncodingError("proposal: must name at least one issue")
    per_issue: dict[str, float] = {}
    for name, value in proposal.items():
        if name not in issues:
            raise EncodingError(f"proposal.{name}: not an issue of the agenda ({', '.join(sorted(issues))})")
        if name not in position:
            raise EncodingError(f"position.{name}: the recipient has stated no position on this issue")
        per_issue[name] = _issue_distance(name, value, position[name], issues[name])
    return sum(per_issue.values()) / len(per_issue), per_issue


def exchange_trend(weights: Sequence[float], window: int = _TREND_WINDOW) -> float:
    """The least-squares slope of the last ``window`` messages' Goldstein weights (per message).

    Args:
        weights: The most conflictual weight of each recent message, oldest first
            (0 for a message with no code).
        window: How many of the last messages count.

    Returns:
        The slope: negative when the exchange is getting more conflictual; 0 with fewer than two messages.
    """
    recent = np.asarray(list(weights)[-window:], dtype=np.float64)
    if recent.size < 2:
        return 0.0
    x = np.arange(recent.size, dtype=np.float64)
    x -= x.mean()
    return float(x @ (recent - recent.mean()) / (x @ x))


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """The inputs of a risk score, as shown to the mediator.

    Attributes:
        goldstein: The proposal's most conflictual Goldstein weight (None: no code).
        distance: The mean normalised distance from the recipient's last position (0 to 1).
        trend: The exchange's slope in Goldstein weight per message.
        per_issue: The distance per issue.
    """

    goldstein: float | None
    distance: float
    trend: float
    per_issue: Mapping[str, float]

    def features(self) -> Array:
        """``[severity, distance, worsening]``."""
        severity = -min(self.goldstein or 0.0, 0.0) / 10.0
        worsening = float(np.clip(-self.trend / 5.0, -1.0, 1.0))
        return np.array([severity, self.distance, worsening], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Bin:
    """One row of a reliability table: predictions in ``[low, high)``."""

    low: float
    high: float
    count: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class Calibration:
    """How well the model's probabilities match outcomes on held-out data.

    Attributes:
        source: What the model was fitted on.
        n_train: Examples fitted on.
        n_test: Held-out examples the figures are computed on.
        brier: Mean squared error of the probabilities (0 is perfect; 0.25 is a coin).
        log_loss: Mean negative log-likelihood.
        ece: Expected calibration error: count-weighted mean |predicted - observed| over the bins.
        base_rate: The held-out rejection rate.
        bins: The reliability table.
    """

    source: str
    n_train: int
    n_test: int
    brier: float
    log_loss: float
    ece: float
    base_rate: float
    bins: tuple[Bin, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "source": self.source,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "brier": round(self.brier, 4),
            "log_loss": round(self.log_loss, 4),
            "ece": round(self.ece, 4),
            "base_rate": round(self.base_rate, 4),
            "bins": [
                {
                    "range": [b.low, b.high],
                    "count": b.count,
                    "predicted": round(b.predicted, 4),
                    "observed": round(b.observed, 4),
                }
                for b in self.bins
            ],
        }


def _sigmoid(z: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))), dtype=np.float64)


def _fit(x: Array, y: Array, ridge: float = 1e-3, iterations: int = 50) -> Array:
    """Logistic regression by Newton-Raphson; ``x`` carries the intercept column."""
    beta = np.zeros(x.shape[1])
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iterations):
        p = _sigmoid(x @ beta)
        gradient = x.T @ (p - y) + penalty @ beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta


def _calibration(p: Array, y: Array, source: str, n_train: int, n_bins: int = 10) -> Calibration:
    eps = 1e-12
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.minimum((p * n_bins).astype(int), n_bins - 1)
    bins = []
    ece = 0.0
    for k in range(n_bins):
        mask = which == k
        count = int(mask.sum())
        if count:
            predicted, observed = float(p[mask].mean()), float(y[mask].mean())
            ece += count * abs(predicted - observed)
            low, high = round(float(edges[k]), 6), round(float(edges[k + 1]), 6)
            bins.append(Bin(low, high, count, predicted, observed))
    return Calibration(
        source=source,
        n_train=n_train,
        n_test=int(y.size),
        brier=float(np.mean((p - y) ** 2)),
        log_loss=float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))),
        ece=ece / y.size,
        base_rate=float(y.mean()),
        bins=tuple(bins),
    )


def simulate_exchanges(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Simulated proposals and whether their recipients rejected them.

    The simulation (ADR-0040, design.md "Rejection risk"): 35 % of proposals
    carry escalatory language (severity uniform in 0.40-0.70, i.e. Goldstein
    -4 to -7), the rest mild (0-0.2); the distance from the recipient's last
    position is Beta(2, 3); the exchange's slope is Normal(0, 1.5) per message.
    A recipient rejects with probability ``sigmoid(TRUE_COEFFICIENTS . [1, x]
    + Normal(0, 0.5))``, the noise standing for recipients' differences.

    Args:
        rng: The random generator (its seed makes the run reproducible).
        n: How many proposals.

    Returns:
        The features ``[severity, distance, worsening]`` (n x 3) and the outcomes (1 = rejected).
    """
    if n < 100:
        raise ConfigurationError(f"n: at least 100 simulated proposals are needed (got {n})")
    escalatory = rng.random(n) < 0.35
    severity = np.where(escalatory, rng.uniform(0.4, 0.7, n), rng.uniform(0.0, 0.2, n))
    distance = rng.beta(2.0, 3.0, n)
    worsening = np.clip(-rng.normal(0.0, 1.5, n) / 5.0, -1.0, 1.0)
    x = np.column_stack([severity, distance, worsening])
    logit = TRUE_COEFFICIENTS[0] + x @ np.array(TRUE_COEFFICIENTS[1:]) + rng.normal(0.0, 0.5, n)
    y = (rng.random(n) < _sigmoid(logit)).astype(np.float64)
    return x, y


@dataclass(frozen=True)
class RiskScore:
    """A rejection risk with everything behind it.

    Attributes:
        probability: The estimated probability of rejection.
        inputs: What it was computed from.
        contributions: Each input's contribution to the log-odds, and the base (intercept).
        calibration: How well the model is calibrated, and on what.
    """

    probability: float
    inputs: RiskInputs
    contributions: Mapping[str, float]
    calibration: Calibration

    def __str__(self) -> str:
        """``rejection risk 0.62 from severity +2.10, distance +1.40, worsening +0.36, base -2.00``."""
        parts = ", ".join(f"{k} {v:+.2f}" for k, v in self.contributions.items())
        return f"rejection risk {self.probability:.2f} from {parts} (log-odds; {self.calibration.source})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the probability always comes with its inputs."""
        return {
            "probability": round(self.probability, 4),
            "inputs": {
                "goldstein": self.inputs.goldstein,
                "distance": round(self.inputs.distance, 4),
                "per_issue": {k: round(v, 4) for k, v in self.inputs.per_issue.items()},
                "trend": round(self.inputs.trend, 4),
            },
            "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
            "calibration": self.calibration.to_dict(),
        }


@dataclass(frozen=True)
class RiskModel:
    """A fitted logistic model of rejection.

    Attributes:
        coefficients: The intercept, then one weight per feature (severity, distance, worsening).
        calibration: Its calibration on held-out data.
    """

    coefficients: tuple[float, ...]
    calibration: Calibration

    @classmethod
    def fit(
        cls, x: Array, y: Array, rng: np.random.Generator, source: str, test_share: float = 0.3
    ) -> RiskModel:
        """Fit on ``x`` (n x 3 features) and ``y`` (0/1), holding out ``test_share`` for calibration.

        Raises:
            ConfigurationError: Shapes or labels are wrong, or a split would be empty.
        """
        if x.ndim != 2 or x.shape[1] != len(FEATURES) or y.shape != (x.shape[0],):
            raise ConfigurationError(f"x: must be n x {len(FEATURES)} with one label per row")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ConfigurationError("y: labels must be 0 or 1")
        order = rng.permutation(x.shape[0])
        cut = round(x.shape[0] * (1 - test_share))
        if not 0 < cut < x.shape[0]:
            raise ConfigurationError(f"test_share: leaves an empty split ({test_share})")
        train, test = order[:cut], order[cut:]
        design = np.column_stack([np.ones(x.shape[0]), x])
        beta = _fit(design[train], y[train])
        calibration = _calibration(_sigmoid(design[test] @ beta), y[test], source, int(train.size))
        return cls(tuple(float(b) for b in beta), calibration)

    @classmethod
    def simulated(cls, rng: np.random.Generator, n: int = 20_000) -> RiskModel:
        """Fit on :func:`simulate_exchanges` (n proposals) drawn from ``rng``."""
        x, y = simulate_exchanges(rng, n)
        return cls.fit(x, y, rng, source=f"simulated exchanges (n={n}, simulate_exchanges)")

    def score(self, inputs: RiskInputs) -> RiskScore:
        """The rejection risk for these inputs, with each input's contribution."""
        features = inputs.features()
        terms = np.array(self.coefficients[1:]) * features
        contributions = {
            "base": self.coefficients[0],
            **{f: float(t) for f, t in zip(FEATURES, terms, strict=True)},
        }
        probability = float(_sigmoid(np.array([self.coefficients[0] + terms.sum()]))[0])
        return RiskScore(probability, inputs, contributions, self.calibration)

    def assess(
        self,
        coding: Coding,
        proposal: Mapping[str, object],
        position: Mapping[str, object],
        issues: Mapping[str, IssueScale],
        history: Sequence[float] = (),
    ) -> RiskScore:
        """Score a coded proposal against the recipient's position and the exchange so far.

        Args:
            coding: The proposal's escalation coding.
            proposal: Its value per issue.
            position: The recipient's last stated value per issue.
            issues: Each issue's scale.
            history: The most conflictual weight of each recent message, oldest first.

        Returns:
            The score with its inputs.
        """
        distance, per_issue = position_distance(proposal, position, issues)
        return self.score(RiskInputs(coding.goldstein, distance, exchange_trend(history), per_issue))
