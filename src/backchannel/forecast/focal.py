"""The ensemble's headline: the compromise forecast snapped to a focal point within a learned tolerance.

DEU outcomes pile up on a few points of each issue's scale: 41 of the 116
training issues ended at 0 or 100, and many others at the middle of the actors'
range. Under absolute error the best forecast is the median of the outcome's
distribution, and a distribution with point masses has its median on one of them
whenever the mass there is large enough. So the headline takes the compromise
model's forecast (the capability x salience weighted mean, ADR-0037) and moves it
to the nearest *focal point* of the issue when it lies within a tolerance ``tau``:

- the focal points are the lowest and the highest present actor's position and
  the middle of the two (:func:`focal_points`); they come from the inputs only,
  never from an outcome;
- ``tau`` is the one parameter learned. :func:`fit_focal_snap` picks it from
  :data:`TOLERANCE_GRID` by the lowest mean absolute error on the training issues
  (ties go to the smaller ``tau``, 0 being the plain compromise model), and builds
  the headline's interval from out-of-fold residuals, as the stacking does;
- :func:`cross_fit_focal` gives out-of-fold headlines when there is no separate
  training set: each issue's ``tau`` is fitted without it.

This module reads no files and does not score forecasts (see
:mod:`backchannel.forecast.backtest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.ensemble import fold_of, out_of_fold
from backchannel.forecast.models import BargainingInputs

__all__ = [
    "BASE_MODEL",
    "TOLERANCE_GRID",
    "FocalSnap",
    "cross_fit_focal",
    "fit_focal_snap",
    "focal_points",
    "snap",
]

FloatArray = npt.NDArray[np.float64]

#: The model whose forecast is snapped.
BASE_MODEL = "compromise"
#: The tolerances searched, in points on 0-100 (0 never snaps; 50 always snaps on a full 0-100 range).
TOLERANCE_GRID: FloatArray = np.arange(0.0, 52.5, 2.5)


def focal_points(inputs: BargainingInputs) -> FloatArray:
    """The focal points per issue, ``(..., 3)``: the lowest, middle and highest present position.

    NaN where no actor is present.
    """
    present = inputs.present.any(axis=-1)
    low = np.where(inputs.present, inputs.positions, np.inf).min(axis=-1)
    high = np.where(inputs.present, inputs.positions, -np.inf).max(axis=-1)
    low, high = np.where(present, low, np.nan), np.where(present, high, np.nan)
    return np.stack([low, (low + high) / 2, high], axis=-1)


def snap(forecast: FloatArray, focal: FloatArray, tolerance: float) -> FloatArray:
    """Move each forecast to its nearest focal point when that point is within ``tolerance``.

    Args:
        forecast: The forecasts, ``(issues,)``; NaN stays NaN.
        focal: The focal points, ``(issues, points)``; NaN points are ignored.
        tolerance: The largest distance that snaps, in points.

    Returns:
        The snapped forecasts (the nearest point wins; on a tie, the first in ``focal``'s order).
    """
    distance = np.abs(focal - forecast[:, None])
    distance = np.where(np.isfinite(distance), distance, np.inf)
    nearest = np.argmin(distance, axis=1)
    rows = np.arange(forecast.size)
    return np.where(distance[rows, nearest] <= tolerance, focal[rows, nearest], forecast)


def _fit_tolerance(forecast: FloatArray, focal: FloatArray, outcome: FloatArray) -> float:
    """The tolerance of :data:`TOLERANCE_GRID` with the lowest mean absolute error (the smallest on a tie)."""
    losses = [float(np.mean(np.abs(snap(forecast, focal, tau) - outcome))) for tau in TOLERANCE_GRID]
    return float(TOLERANCE_GRID[int(np.argmin(losses))])


@dataclass(frozen=True)
class FocalSnap:
    """The fitted headline: the compromise forecast snapped within ``tolerance``, with a residual interval.

    Attributes:
        tolerance: The learned tolerance ``tau``, in points.
        residual_low: Lower quantile of out-of-fold residuals (outcome - headline).
        residual_high: Upper quantile of out-of-fold residuals.
        level: The interval's nominal coverage.
    """

    tolerance: float
    residual_low: float
    residual_high: float
    level: float

    def predict(self, answers: Mapping[str, FloatArray], focal: FloatArray) -> FloatArray:
        """The headline forecast per issue."""
        return snap(answers[BASE_MODEL], focal, self.tolerance)

    def interval(self, answers: Mapping[str, FloatArray], focal: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The headline's interval per issue, clipped to [0, 100]."""
        point = self.predict(answers, focal)
        return np.clip(point + self.residual_low, 0, 100), np.clip(point + self.residual_high, 0, 100)


def fit_focal_snap(  # noqa: PLR0913 - the data, then keyword-only settings
    answers: Mapping[str, FloatArray],
    focal: FloatArray,
    outcome: FloatArray,
    issue_ids: Sequence[str],
    *,
    folds: int = 5,
    level: float = 0.9,
) -> FocalSnap:
    """Learn the tolerance on training issues; the interval comes from out-of-fold residuals.

    Args:
        answers: Each model's answers on the training issues (the compromise model's is needed).
        focal: The training issues' focal points (:func:`focal_points`).
        outcome: The training outcomes (NaN outcomes are skipped).
        issue_ids: The training issue ids (for the inner folds).
        folds: Inner folds for the residual interval.
        level: Nominal coverage of the interval.

    Returns:
        The fitted headline.

    Raises:
        DomainError: No compromise answers, or fewer than ``2 * folds`` training issues with outcomes.
    """
    if BASE_MODEL not in answers:
        raise DomainError(f"answers: the {BASE_MODEL} model is needed for the focal headline")
    keep = np.isfinite(outcome) & np.isfinite(answers[BASE_MODEL])
    if keep.sum() < 2 * folds:
        raise DomainError(f"training: need at least {2 * folds} issues with outcomes (got {int(keep.sum())})")
    forecast, points, y = answers[BASE_MODEL][keep], focal[keep], outcome[keep]
    fold = fold_of([i for i, k in zip(issue_ids, keep, strict=True) if k], folds)
    residuals = np.empty_like(y)
    for k in range(folds):
        test = fold == k
        tau = _fit_tolerance(forecast[~test], points[~test], y[~test])
        residuals[test] = y[test] - snap(forecast[test], points[test], tau)
    tail = (1 - level) / 2
    low, high = np.quantile(residuals, [tail, 1 - tail])
    return FocalSnap(_fit_tolerance(forecast, points, y), float(low), float(high), level)


def cross_fit_focal(
    answers: Mapping[str, FloatArray],
    focal: FloatArray,
    outcome: FloatArray,
    issue_ids: Sequence[str],
    *,
    folds: int = 10,
) -> tuple[FloatArray, FloatArray, FloatArray, tuple[float, ...]]:
    """Out-of-fold headlines: each issue's tolerance is learned without it (folds by :func:`fold_of`).

    Returns:
        ``(headline, low, high)`` per issue, and the tolerance fitted for each fold.
    """
    n = outcome.size
    point, low, high = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    tolerances = []
    for test, train, ids, subset in out_of_fold(answers, issue_ids, folds):
        model = fit_focal_snap(train, focal[~test], outcome[~test], ids)
        point[test] = model.predict(subset, focal[test])
        low[test], high[test] = model.interval(subset, focal[test])
        tolerances.append(model.tolerance)
    return point, low, high, tuple(tolerances)
