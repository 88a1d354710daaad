"""Backtest the models and the ensemble on DEU-format issues with known outcomes (issue #10, item 7).

:func:`run_backtest` evaluates every model of :data:`~backchannel.forecast.ensemble.MODELS`
on the test issues and reports, per model and for the ensemble's headline:

- ``n``, MAE, RMSE and median absolute error on the issues with an outcome and an answer;
- paired-bootstrap 95% intervals (issues resampled with replacement, the same
  resample for both) of the model's MAE and of its MAE minus the compromise
  model's, on the issues both answer;
- the MAE on issues flagged "models disagree" and on the others, and the flagged share;
- optionally, each model's Monte Carlo predictive interval: how often it holds
  the outcome and how wide it is.

The ensemble's headline is the compromise forecast snapped to the nearest focal
point within a learned tolerance (:mod:`backchannel.forecast.focal`, ADR-0054);
the convex stacking of every model (ADR-0038) is scored beside it as
``stacking``. Learning is honest: with a training set, the tolerance and the
stacking weights are fitted on it alone; without one, each test issue's headline
comes from a fit on the other folds
(:func:`~backchannel.forecast.focal.cross_fit_focal`,
:func:`~backchannel.forecast.ensemble.cross_fit`). This module reads
no files and prints nothing; the CLI does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from backchannel.errors import DomainError
from backchannel.forecast.dataset import IssueSet
from backchannel.forecast.ensemble import (
    DISAGREEMENT_THRESHOLD,
    MODELS,
    Disagreement,
    cross_fit,
    disagreement,
    fit_stacking,
    run_models,
)
from backchannel.forecast.focal import BASE_MODEL, cross_fit_focal, fit_focal_snap, focal_points
from backchannel.forecast.models import BargainingInputs, Uncertainty, predictive_interval

__all__ = ["BacktestReport", "IntervalCheck", "Score", "run_backtest", "score"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

REFERENCE_MODEL = "compromise"


@dataclass(frozen=True)
class Score:
    """Accuracy of one forecaster on the issues it answered.

    Attributes:
        n: Issues scored (with an outcome and a finite answer).
        mae: Mean absolute error.
        rmse: Root mean squared error.
        median_ae: Median absolute error.
        mae_ci95: Paired-bootstrap 95% interval of the MAE.
        diff_vs_compromise: MAE minus the compromise model's MAE on the issues both answered.
        diff_ci95: Its paired-bootstrap 95% interval (negative: better than compromise).
        flagged_n: Scored issues flagged "models disagree".
        mae_flagged: MAE on flagged issues (None when there are none).
        mae_unflagged: MAE on the other issues (None when there are none).
    """

    n: int
    mae: float
    rmse: float
    median_ae: float
    mae_ci95: tuple[float, float]
    diff_vs_compromise: float
    diff_ci95: tuple[float, float]
    flagged_n: int
    mae_flagged: float | None
    mae_unflagged: float | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "n": self.n,
            "mae": self.mae,
            "rmse": self.rmse,
            "median_ae": self.median_ae,
            "mae_ci95": list(self.mae_ci95),
            "mae_diff_vs_compromise": self.diff_vs_compromise,
            "mae_diff_vs_compromise_ci95": list(self.diff_ci95),
            "flagged_n": self.flagged_n,
            "mae_flagged": self.mae_flagged,
            "mae_unflagged": self.mae_unflagged,
        }


def _num(value: float) -> float | None:
    """A JSON number, or None for NaN."""
    return None if math.isnan(value) else float(value)


def _mean_or_none(values: FloatArray) -> float | None:
    return float(values.mean()) if values.size else None


def score(  # noqa: PLR0913 - the forecaster, its reference, outcomes, flags and the generator
    answer: FloatArray,
    reference: FloatArray,
    outcome: FloatArray,
    flagged: BoolArray,
    rng: np.random.Generator,
    *,
    resamples: int = 2000,
) -> Score:
    """Score one forecaster against the outcomes, paired with the reference forecaster.

    Args:
        answer: The forecaster's answers per issue (NaN: no answer).
        reference: The compromise model's answers (for the paired comparison).
        outcome: The outcomes (NaN: unknown).
        flagged: The "models disagree" flag per issue.
        rng: Random generator for the bootstrap.
        resamples: Bootstrap resamples.

    Returns:
        The score.

    Raises:
        DomainError: No issue has both an answer and an outcome.
    """
    ok = np.isfinite(answer) & np.isfinite(outcome)
    if not ok.any():
        raise DomainError("backtest: no issue has both an answer and an outcome")
    err = np.abs(answer - outcome)
    both = ok & np.isfinite(reference)
    diff = err[both] - np.abs(reference - outcome)[both]
    picks = rng.integers(0, int(both.sum()), size=(resamples, int(both.sum())))
    own = rng.integers(0, int(ok.sum()), size=(resamples, int(ok.sum())))
    boot_mae = err[ok][own].mean(axis=1)
    boot_diff = diff[picks].mean(axis=1) if diff.size else np.zeros(1)
    return Score(
        n=int(ok.sum()),
        mae=float(err[ok].mean()),
        rmse=float(np.sqrt((err[ok] ** 2).mean())),
        median_ae=float(np.median(err[ok])),
        mae_ci95=(float(np.quantile(boot_mae, 0.025)), float(np.quantile(boot_mae, 0.975))),
        diff_vs_compromise=float(diff.mean()) if diff.size else 0.0,
        diff_ci95=(float(np.quantile(boot_diff, 0.025)), float(np.quantile(boot_diff, 0.975))),
        flagged_n=int((ok & flagged).sum()),
        mae_flagged=_mean_or_none(err[ok & flagged]),
        mae_unflagged=_mean_or_none(err[ok & ~flagged]),
    )


@dataclass(frozen=True)
class BacktestReport:
    """The backtest's result.

    Attributes:
        models: Each model's score, in report order.
        ensemble: The headline combination's score.
        weights: The headline's base model and its weight (``{"compromise": 1.0}``).
        training: How the headline was learned (``"train files"`` or ``"10-fold cross-fit"``).
        tolerances: The headline's snapping tolerance, one per fit (per fold when cross-fitted).
        stacking: The convex stacking's score, learned the same honest way (ADR-0038).
        stacking_weights: Its weights (fitted on the training set, or on every issue for display).
        flagged_share: Share of test issues flagged "models disagree".
        threshold: The disagreement threshold.
        interval_coverage: Share of scored issues whose outcome lies in the headline's interval.
        interval_level: The interval's nominal coverage.
        intervals: Each model's Monte Carlo interval check (empty without draws).
        disagreement: Per-issue spreads and flags.
        issue_ids: The test issues.
        answers: Every model's answers and the headline (``"ensemble"``), per issue.
        outcome: The outcomes, per issue (NaN: unknown).
        headline_low: The headline interval's lower end, per issue.
        headline_high: The headline interval's upper end, per issue.
    """

    models: dict[str, Score]
    ensemble: Score
    weights: dict[str, float]
    training: str
    tolerances: tuple[float, ...]
    stacking: Score
    stacking_weights: dict[str, float]
    flagged_share: float
    threshold: float
    interval_coverage: float
    interval_level: float
    intervals: dict[str, IntervalCheck]
    disagreement: Disagreement = field(repr=False)
    issue_ids: tuple[str, ...] = field(repr=False)
    answers: dict[str, FloatArray] = field(repr=False)
    outcome: FloatArray = field(repr=False)
    headline_low: FloatArray = field(repr=False)
    headline_high: FloatArray = field(repr=False)

    def issues(self) -> list[dict[str, object]]:
        """Per issue: the outcome, every model's answer, the headline with its interval, and the flag."""
        flags = self.disagreement
        return [
            {
                "isnr": isnr,
                "outcome": _num(self.outcome[k]),
                "answers": {name: _num(values[k]) for name, values in self.answers.items()},
                "headline_interval": [_num(self.headline_low[k]), _num(self.headline_high[k])],
                "spread": float(flags.spread[k]),
                "models_disagree": bool(flags.flagged[k]),
                "lowest": flags.low_model[k],
                "highest": flags.high_model[k],
            }
            for k, isnr in enumerate(self.issue_ids)
        ]

    def _model_dict(self, name: str) -> dict[str, object]:
        entry = self.models[name].to_dict()
        check = self.intervals.get(name)
        if check is not None:
            entry["monte_carlo"] = {
                "draws": check.draws,
                "level": check.level,
                "coverage": check.coverage,
                "mean_width": check.mean_width,
            }
        return entry

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary (the CLI's ``--json`` document)."""
        return {
            "models": {name: self._model_dict(name) for name in self.models},
            "ensemble": {
                **self.ensemble.to_dict(),
                "weights": self.weights,
                "training": self.training,
                "headline": f"{BASE_MODEL} snapped to the nearest focal point (lowest, middle or highest "
                "position) within a tolerance learned on training issues only",
                "snap_tolerance": list(self.tolerances),
                "interval_level": self.interval_level,
                "interval_coverage": self.interval_coverage,
            },
            "stacking": {**self.stacking.to_dict(), "weights": self.stacking_weights},
            "disagreement": {
                "threshold": self.threshold,
                "flagged_share": self.flagged_share,
                "flagged_issues": [
                    i for i, f in zip(self.issue_ids, self.disagreement.flagged, strict=True) if f
                ],
            },
            "reference_model": REFERENCE_MODEL,
            "issues": self.issues(),
        }


@dataclass(frozen=True)
class _Headline:
    """The ensemble's headline on the test issues, how it was learned, and the stacking beside it."""

    point: FloatArray
    low: FloatArray
    high: FloatArray
    weights: dict[str, float]
    training: str
    level: float
    tolerances: tuple[float, ...]
    stacking: FloatArray
    stacking_weights: dict[str, float]


def _headline(
    test: IssueSet, answers: dict[str, FloatArray], train: IssueSet | None, capabilities: str
) -> _Headline:
    """Fit the focal headline (and the stacking) on ``train`` only, or cross-fit on ``test`` without one."""
    focal = focal_points(BargainingInputs.from_issue_set(test, capabilities=capabilities))
    if train is None:
        point, low, high, tolerances = cross_fit_focal(answers, focal, test.outcome, test.issue_ids)
        level = fit_focal_snap(answers, focal, test.outcome, test.issue_ids).level
        stacked, _, _ = cross_fit(answers, test.outcome, test.issue_ids)
        full = fit_stacking(answers, test.outcome, test.issue_ids)
        stack_weights = dict(zip(full.names, full.weights.tolist(), strict=True))
        return _Headline(
            point,
            low,
            high,
            {BASE_MODEL: 1.0},
            "10-fold cross-fit",
            level,
            tolerances,
            stacked,
            stack_weights,
        )
    shared = sorted(set(train.issue_ids) & set(test.issue_ids))
    if shared:
        raise DomainError(f"train: {len(shared)} issue(s) also in the test set, e.g. {shared[0]}")
    train_inputs = BargainingInputs.from_issue_set(train, capabilities=capabilities)
    train_answers = run_models(train_inputs)
    headline = fit_focal_snap(train_answers, focal_points(train_inputs), train.outcome, train.issue_ids)
    low, high = headline.interval(answers, focal)
    stacking = fit_stacking(train_answers, train.outcome, train.issue_ids)
    return _Headline(
        headline.predict(answers, focal),
        low,
        high,
        {BASE_MODEL: 1.0},
        "train files",
        headline.level,
        (headline.tolerance,),
        stacking.predict(answers),
        dict(zip(stacking.names, stacking.weights.tolist(), strict=True)),
    )


@dataclass(frozen=True)
class IntervalCheck:
    """How a model's Monte Carlo predictive interval fares against the outcomes.

    Attributes:
        draws: Monte Carlo draws per issue.
        level: Nominal coverage of the interval.
        coverage: Share of scored issues whose outcome lies inside the interval.
        mean_width: Mean width of the interval, in points.
    """

    draws: int
    level: float
    coverage: float
    mean_width: float


def _interval_checks(
    inputs: BargainingInputs,
    outcome: FloatArray,
    uncertainty: Uncertainty,
    rng: np.random.Generator,
    draws: int,
) -> dict[str, IntervalCheck]:
    """Each model's Monte Carlo interval: coverage of the outcomes and mean width."""
    checks = {}
    for name, model in MODELS.items():
        interval = predictive_interval(model, inputs, uncertainty, rng, draws=draws)
        ok = np.isfinite(outcome) & np.isfinite(interval.low)
        inside = (interval.low[ok] <= outcome[ok]) & (outcome[ok] <= interval.high[ok])
        width = interval.high[ok] - interval.low[ok]
        checks[name] = IntervalCheck(
            draws,
            interval.level,
            float(inside.mean()) if ok.any() else math.nan,
            float(width.mean()) if ok.any() else math.nan,
        )
    return checks


def run_backtest(  # noqa: PLR0913 - the data and the generator, then keyword-only settings
    test: IssueSet,
    rng: np.random.Generator,
    *,
    train: IssueSet | None = None,
    capabilities: str = "equal",
    resamples: int = 2000,
    draws: int = 0,
    uncertainty: Uncertainty | None = None,
) -> BacktestReport:
    """Score every model and the ensemble's headline on the test issues.

    Args:
        test: Issues to score (their outcomes are never used for fitting when ``train`` is given).
        rng: Random generator for the bootstrap and the Monte Carlo draws.
        train: Issues to learn the ensemble on; None cross-fits on ``test`` instead.
        capabilities: The capability scheme (see :meth:`BargainingInputs.from_issue_set`).
        resamples: Bootstrap resamples.
        draws: Monte Carlo draws per issue for the models' predictive intervals (0: none).
        uncertainty: The declared input distributions (default :class:`Uncertainty`'s).

    Returns:
        The report.

    Raises:
        DomainError: A training and a test issue share an id, or too few issues.
    """
    inputs = BargainingInputs.from_issue_set(test, capabilities=capabilities)
    answers = run_models(inputs)
    headline = _headline(test, answers, train, capabilities)
    flags = disagreement(answers)
    reference = answers[REFERENCE_MODEL]
    scores = {
        name: score(a, reference, test.outcome, flags.flagged, rng, resamples=resamples)
        for name, a in answers.items()
    }
    ensemble = score(headline.point, reference, test.outcome, flags.flagged, rng, resamples=resamples)
    ok = np.isfinite(test.outcome) & np.isfinite(headline.point)
    covered = (test.outcome[ok] >= headline.low[ok]) & (test.outcome[ok] <= headline.high[ok])
    intervals = (
        _interval_checks(inputs, test.outcome, uncertainty or Uncertainty(), rng, draws) if draws > 0 else {}
    )
    return BacktestReport(
        models=scores,
        ensemble=ensemble,
        weights=headline.weights,
        training=headline.training,
        tolerances=headline.tolerances,
        stacking=score(headline.stacking, reference, test.outcome, flags.flagged, rng, resamples=resamples),
        stacking_weights=headline.stacking_weights,
        flagged_share=float(flags.flagged.mean()),
        threshold=DISAGREEMENT_THRESHOLD,
        interval_coverage=float(covered.mean()) if covered.size else math.nan,
        interval_level=headline.level,
        intervals=intervals,
        disagreement=flags,
        issue_ids=test.issue_ids,
        answers={**answers, "ensemble": headline.point},
        outcome=test.outcome,
        headline_low=headline.low,
        headline_high=headline.high,
    )
