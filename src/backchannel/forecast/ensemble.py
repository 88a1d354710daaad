"""Run every model, flag disagreement, and learn an honest headline combination (ADR-0038).

- :data:`MODELS` names every model and baseline; :func:`run_models` evaluates all
  of them on the same inputs, so every model's answer is shown.
- :func:`disagreement` gives, per issue, the spread between the substantive
  bargaining models and the "models disagree" flag when it exceeds
  :data:`DISAGREEMENT_THRESHOLD` (40 points on 0-100, or 40 percentage points on
  a probability). The spread is reported next to every headline; nothing is
  averaged away.
- :func:`fit_stacking` learns non-negative weights that sum to 1 (a convex
  combination) by minimising the absolute error on training issues only;
  :func:`cross_fit` does the same out-of-fold when no separate training set
  exists. :class:`Stacking` predicts the headline with an interval built from
  out-of-fold residuals.

This module reads no files and does not score forecasts (see
:mod:`backchannel.forecast.backtest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.models import (
    BASELINES,
    BargainingInputs,
    Model,
    compromise,
    weighted_median,
)
from backchannel.forecast.models_eu import expected_utility
from backchannel.forecast.models_nash import nash_reference, nash_worst

__all__ = [
    "BARGAINING_MODELS",
    "DISAGREEMENT_THRESHOLD",
    "MODELS",
    "Disagreement",
    "Stacking",
    "cross_fit",
    "disagreement",
    "fit_stacking",
    "fold_of",
    "out_of_fold",
    "run_models",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Models farther apart than this (points on 0-100, or percentage points) are flagged.
DISAGREEMENT_THRESHOLD = 40.0

#: The substantive bargaining models; their spread decides the flag.
BARGAINING_MODELS: Mapping[str, Model] = {
    "compromise": compromise,
    "weighted_median": weighted_median,
    "nash_worst": nash_worst,
    "nash_reference": nash_reference,
    "expected_utility": expected_utility,
}

#: Every model and baseline, in report order.
MODELS: Mapping[str, Model] = {**BARGAINING_MODELS, **BASELINES}

_SUBGRADIENT_STEPS = 3000


def run_models(inputs: BargainingInputs, names: Sequence[str] | None = None) -> dict[str, FloatArray]:
    """Evaluate the named models (default: all of :data:`MODELS`) on the same inputs.

    Raises:
        DomainError: An unknown model name.
    """
    chosen = list(MODELS) if names is None else list(names)
    unknown = [name for name in chosen if name not in MODELS]
    if unknown:
        raise DomainError(f"models: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return {name: MODELS[name](inputs) for name in chosen}


@dataclass(frozen=True)
class Disagreement:
    """How far the models' answers are apart, per issue.

    Attributes:
        spread: Highest minus lowest answer among the models that gave one.
        flagged: True where the spread exceeds the threshold: "models disagree".
        low_model: The name of the lowest model per issue.
        high_model: The name of the highest model per issue.
        threshold: The threshold used.
    """

    spread: FloatArray
    flagged: BoolArray
    low_model: tuple[str, ...]
    high_model: tuple[str, ...]
    threshold: float


def disagreement(
    answers: Mapping[str, FloatArray],
    *,
    threshold: float = DISAGREEMENT_THRESHOLD,
    names: Sequence[str] | None = None,
) -> Disagreement:
    """The spread of the models' answers and the "models disagree" flag.

    Args:
        answers: Each model's answers, all of the same shape ``(issues,)``.
        threshold: Flag when the spread is strictly above this.
        names: Which models count (default: those of :data:`BARGAINING_MODELS` present
            in ``answers``, or all of ``answers`` if none is).

    Returns:
        The spread, flag and extreme models per issue; NaN answers are ignored.

    Raises:
        DomainError: No models to compare.
    """
    chosen = list(names) if names is not None else [n for n in BARGAINING_MODELS if n in answers]
    chosen = chosen or list(answers)
    if not chosen:
        raise DomainError("answers: no models to compare")
    stack = np.stack([answers[name] for name in chosen])
    finite = np.isfinite(stack)
    high = np.where(finite, stack, -np.inf)
    low = np.where(finite, stack, np.inf)
    spread = np.where(finite.any(axis=0), high.max(axis=0) - low.min(axis=0), 0.0)
    return Disagreement(
        spread=spread,
        flagged=spread > threshold,
        low_model=tuple(chosen[i] for i in low.argmin(axis=0)),
        high_model=tuple(chosen[i] for i in high.argmax(axis=0)),
        threshold=threshold,
    )


def _design(answers: Mapping[str, FloatArray], names: Sequence[str]) -> FloatArray:
    """Columns of answers; a missing answer is replaced by the compromise model's."""
    fallback = answers["compromise"]
    return np.stack([np.where(np.isfinite(answers[n]), answers[n], fallback) for n in names], axis=1)


def _project_simplex(v: FloatArray) -> FloatArray:
    """Euclidean projection onto ``{w >= 0, sum w = 1}`` (Duchi et al. 2008)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, v.size + 1)
    rho = int(np.nonzero(u * k > css)[0][-1])
    return np.asarray(np.maximum(v - css[rho] / (rho + 1), 0.0), dtype=np.float64)


@dataclass(frozen=True)
class Stacking:
    """A learned convex combination of models, with a residual interval.

    Attributes:
        names: The combined models.
        weights: Their weights (non-negative, summing to 1).
        residual_low: Lower quantile of out-of-fold residuals (outcome - headline).
        residual_high: Upper quantile of out-of-fold residuals.
        level: The interval's nominal coverage.
    """

    names: tuple[str, ...]
    weights: FloatArray
    residual_low: float
    residual_high: float
    level: float

    def predict(self, answers: Mapping[str, FloatArray]) -> FloatArray:
        """The headline forecast per issue."""
        return np.clip(_design(answers, self.names) @ self.weights, 0.0, 100.0)

    def interval(self, answers: Mapping[str, FloatArray]) -> tuple[FloatArray, FloatArray]:
        """The headline's interval per issue, clipped to [0, 100]."""
        point = self.predict(answers)
        return np.clip(point + self.residual_low, 0, 100), np.clip(point + self.residual_high, 0, 100)


def _fit_weights(design: FloatArray, outcome: FloatArray) -> FloatArray:
    """Minimise mean absolute error over the simplex by projected subgradient descent.

    Deterministic; returns the best iterate seen (subgradient steps do not decrease
    the objective monotonically).
    """
    m = design.shape[1]
    w = np.full(m, 1.0 / m)
    best, best_loss = w, float(np.mean(np.abs(design @ w - outcome)))
    scale = float(np.mean(np.abs(design))) or 1.0
    for t in range(_SUBGRADIENT_STEPS):
        g = design.T @ np.sign(design @ w - outcome) / outcome.size
        w = _project_simplex(w - g / (scale * np.sqrt(t + 1.0)))
        loss = float(np.mean(np.abs(design @ w - outcome)))
        if loss < best_loss:
            best, best_loss = w, loss
    return best


def fold_of(issue_ids: Sequence[str], folds: int) -> npt.NDArray[np.int64]:
    """A fixed fold per issue from SHA-256 of its id (stable across runs and files)."""
    return np.array([int(hashlib.sha256(i.encode()).hexdigest(), 16) % folds for i in issue_ids])


def out_of_fold(
    answers: Mapping[str, FloatArray], issue_ids: Sequence[str], folds: int
) -> Iterator[tuple[BoolArray, dict[str, FloatArray], list[str], dict[str, FloatArray]]]:
    """For each non-empty fold: its mask, the other folds' answers and ids, and its own answers."""
    fold = fold_of(issue_ids, folds)
    for k in range(folds):
        test = fold == k
        if not test.any():
            continue
        train = {name: values[~test] for name, values in answers.items()}
        ids = [i for i, t in zip(issue_ids, test, strict=True) if not t]
        yield test, train, ids, {name: values[test] for name, values in answers.items()}


def fit_stacking(  # noqa: PLR0913 - the data, then keyword-only settings
    answers: Mapping[str, FloatArray],
    outcome: FloatArray,
    issue_ids: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    folds: int = 5,
    level: float = 0.9,
) -> Stacking:
    """Learn stacking weights on training issues; the interval comes from out-of-fold residuals.

    Args:
        answers: Each model's answers on the training issues.
        outcome: The training outcomes (NaN outcomes are skipped).
        issue_ids: The training issue ids (for the inner folds).
        names: Models to combine (default: every model in ``answers``).
        folds: Inner folds for the residual interval.
        level: Nominal coverage of the interval.

    Returns:
        The fitted combination.

    Raises:
        DomainError: Fewer than ``2 * folds`` training issues with outcomes, or no compromise answers.
    """
    if "compromise" not in answers:
        raise DomainError("answers: the compromise model is needed as the fallback")
    chosen = tuple(names) if names is not None else tuple(answers)
    keep = np.isfinite(outcome)
    if keep.sum() < 2 * folds:
        raise DomainError(f"training: need at least {2 * folds} issues with outcomes (got {int(keep.sum())})")
    design, y = _design(answers, chosen)[keep], outcome[keep]
    fold = fold_of([i for i, k in zip(issue_ids, keep, strict=True) if k], folds)
    residuals = np.empty_like(y)
    for k in range(folds):
        test = fold == k
        weights = _fit_weights(design[~test], y[~test])
        residuals[test] = y[test] - np.clip(design[test] @ weights, 0, 100)
    tail = (1 - level) / 2
    low, high = np.quantile(residuals, [tail, 1 - tail])
    return Stacking(chosen, _fit_weights(design, y), float(low), float(high), level)


def cross_fit(
    answers: Mapping[str, FloatArray],
    outcome: FloatArray,
    issue_ids: Sequence[str],
    *,
    folds: int = 10,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Out-of-fold headline forecasts: each issue's weights are learned without it.

    Issues are assigned to folds by :func:`fold_of`; for each fold, a
    :class:`Stacking` is fitted on the other folds and predicts this one.

    Returns:
        ``(headline, low, high)`` per issue.
    """
    n = outcome.size
    point, low, high = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for test, train, ids, subset in out_of_fold(answers, issue_ids, folds):
        model = fit_stacking(train, outcome[~test], ids)
        point[test] = model.predict(subset)
        low[test], high[test] = model.interval(subset)
    return point, low, high
