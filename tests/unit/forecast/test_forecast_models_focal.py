"""The focal headline: snapping by hand, a tolerance learned on training issues only, and the DEU backtest."""

import math

import numpy as np
import pytest
from forecast_models_data import shared_deu
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import DomainError
from backchannel.forecast.backtest import run_backtest
from backchannel.forecast.ensemble import fold_of
from backchannel.forecast.focal import (
    TOLERANCE_GRID,
    cross_fit_focal,
    fit_focal_snap,
    focal_points,
    snap,
)
from backchannel.forecast.models import BargainingInputs


def inputs(rows: list[list[float]], present: list[list[bool]] | None = None) -> BargainingInputs:
    x = np.array(rows, dtype=float)
    mask = np.ones_like(x, dtype=bool) if present is None else np.array(present)
    n = x.shape[0]
    return BargainingInputs(x, np.ones_like(x), np.ones_like(x), mask, np.full(n, np.nan), np.full(n, np.nan))


def test_focal_points_are_the_lowest_middle_and_highest_present_positions() -> None:
    got = focal_points(inputs([[10, 90, 40], [0, 100, 30], [5, 6, 7]], [[1, 1, 1], [0, 1, 1], [0, 0, 0]]))
    np.testing.assert_array_equal(got[0], [10, 50, 90])
    np.testing.assert_array_equal(got[1], [30, 65, 100])  # the absent actor at 0 does not count
    assert np.isnan(got[2]).all()


def test_snap_moves_only_within_the_tolerance() -> None:
    focal = np.array([[0.0, 50.0, 100.0]] * 4)
    forecast = np.array([12.0, 38.0, 75.0, math.nan])
    np.testing.assert_array_equal(snap(forecast, focal, 0.0)[:3], forecast[:3])
    np.testing.assert_array_equal(snap(forecast, focal, 12.0)[:3], [0, 50, 75])  # 12 is within, 25 is not
    np.testing.assert_array_equal(snap(forecast, focal, 25.0)[:3], [0, 50, 50])  # a tie: the first point
    assert np.isnan(snap(forecast, focal, 50.0)[3])
    with_nan = np.array([[math.nan, 50.0, 100.0]])
    assert snap(np.array([1.0]), with_nan, 50.0)[0] == 50  # NaN focal points are skipped


def _training(outcome_at_focal: bool) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(1)
    n = 60
    focal = np.tile([0.0, 50.0, 100.0], (n, 1))
    truth = focal[np.arange(n), rng.integers(0, 3, n)]
    forecast = np.clip(truth + rng.normal(0, 8, n), 0, 100)
    outcome = truth if outcome_at_focal else forecast + rng.normal(0, 0.5, n)
    return {"compromise": forecast}, focal, outcome, [f"i{k}" for k in range(n)]


def test_the_tolerance_is_learned_from_the_training_outcomes() -> None:
    snaps = fit_focal_snap(*_training(outcome_at_focal=True))
    assert snaps.tolerance >= 15  # the outcomes sit on the focal points: snap from afar
    assert snaps.residual_low <= 0 <= snaps.residual_high
    plain = fit_focal_snap(*_training(outcome_at_focal=False))
    assert plain.tolerance == 0  # the outcomes follow the forecast: never snap
    assert plain.tolerance in TOLERANCE_GRID


def test_fitting_needs_the_compromise_model_and_enough_issues() -> None:
    answers, focal, outcome, ids = _training(outcome_at_focal=True)
    with pytest.raises(DomainError, match="compromise"):
        fit_focal_snap({"other": answers["compromise"]}, focal, outcome, ids)
    with pytest.raises(DomainError, match="at least 10"):
        fit_focal_snap({"compromise": answers["compromise"][:5]}, focal[:5], outcome[:5], ids[:5])


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 59), st.floats(0, 100))
def test_a_cross_fitted_headline_never_sees_its_own_outcome(k: int, new_outcome: float) -> None:
    answers, focal, outcome, ids = _training(outcome_at_focal=True)
    before, *_ = cross_fit_focal(answers, focal, outcome, ids)
    changed = outcome.copy()
    changed[k] = new_outcome
    after, *_ = cross_fit_focal(answers, focal, changed, ids)
    assert after[k] == before[k]


def test_the_deu_backtest_reports_the_focal_headline_and_the_stacking() -> None:
    deu = shared_deu()
    report = run_backtest(deu, np.random.default_rng(5), resamples=200)
    assert len(report.tolerances) == 10  # one per fold
    doc = report.to_dict()
    assert doc["ensemble"]["snap_tolerance"] == list(report.tolerances)
    assert doc["stacking"]["n"] == report.stacking.n == 172
    assert set(doc["stacking"]["weights"]) >= {"compromise", "expected_utility"}
    focal = focal_points(BargainingInputs.from_issue_set(deu))
    answers = report.answers
    for k in np.flatnonzero(answers["ensemble"] != answers["compromise"]):
        assert answers["ensemble"][k] in focal[k]  # the headline moved only onto a focal point
    # out of sample, on issues it was not fitted on, the headline beats the compromise model
    assert report.ensemble.mae < report.models["compromise"].mae
    split = fold_of(deu.issue_ids, 3)
    held_out = run_backtest(
        deu.select(split == 0), np.random.default_rng(5), train=deu.select(split != 0), resamples=200
    )
    assert held_out.training == "train files"
    assert held_out.ensemble.mae < held_out.models["compromise"].mae
