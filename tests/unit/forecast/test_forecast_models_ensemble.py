"""The ensemble: every answer shown, disagreement flagged (never averaged away), honest stacking."""

import numpy as np
import pytest
from forecast_models_data import shared_deu

from backchannel.errors import DomainError
from backchannel.forecast.dataset import IssueSet
from backchannel.forecast.ensemble import (
    BARGAINING_MODELS,
    MODELS,
    _project_simplex,
    cross_fit,
    disagreement,
    fit_stacking,
    fold_of,
    run_models,
)
from backchannel.forecast.models import BargainingInputs


@pytest.fixture(scope="module")
def deu() -> IssueSet:
    return shared_deu()


def test_flag_is_strictly_above_40_points_with_the_spread() -> None:
    answers = {
        "compromise": np.array([30.0, 30.0, 10.0, np.nan]),
        "nash_worst": np.array([70.0, 71.0, 10.0, np.nan]),
        "weighted_median": np.array([50.0, 40.0, np.nan, np.nan]),
    }
    flags = disagreement(answers)
    assert flags.spread.tolist() == [40.0, 41.0, 0.0, 0.0]
    assert flags.flagged.tolist() == [False, True, False, False]
    assert flags.low_model[1] == "compromise"
    assert flags.high_model[1] == "nash_worst"
    assert flags.threshold == 40


def test_flag_on_probabilities_in_percentage_points() -> None:
    flags = disagreement(
        {"a": np.array([0.10, 0.2]), "b": np.array([0.55, 0.5])}, threshold=0.40, names=["a", "b"]
    )
    assert flags.flagged.tolist() == [True, False]
    assert disagreement({"x": np.array([1.0]), "y": np.array([99.0])}).flagged[
        0
    ]  # no bargaining model: all count
    with pytest.raises(DomainError, match="no models to compare"):
        disagreement({})


def test_every_model_answers_on_the_shared_data(deu: IssueSet) -> None:
    answers = run_models(BargainingInputs.from_issue_set(deu))
    assert list(answers) == list(MODELS)
    assert set(BARGAINING_MODELS) < set(MODELS)
    assert all(a.shape == (173,) for a in answers.values())
    with pytest.raises(DomainError, match="models: unknown model"):
        run_models(BargainingInputs.from_issue_set(deu), ["oracle"])


def test_simplex_projection() -> None:
    w = _project_simplex(np.array([0.5, 2.0, -1.0]))
    assert w.sum() == pytest.approx(1)
    assert (w >= 0).all()
    assert w.tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert _project_simplex(np.array([0.2, 0.3, 0.5])).tolist() == pytest.approx([0.2, 0.3, 0.5])


def test_stacking_learns_the_model_that_is_right() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 100, 60)
    answers = {
        "compromise": np.clip(truth + rng.normal(0, 30, 60), 0, 100),
        "good": truth.copy(),
        "bad": rng.uniform(0, 100, 60),
    }
    ids = [f"i{k}" for k in range(60)]
    stacking = fit_stacking(answers, truth, ids)
    assert stacking.weights.sum() == pytest.approx(1)
    assert (stacking.weights >= 0).all()
    assert stacking.weights[1] > 0.95
    low, high = stacking.interval(answers)
    assert (low <= stacking.predict(answers)).all()
    assert (stacking.predict(answers) <= high).all()
    point, _lo, _hi = cross_fit(answers, truth, ids)
    assert np.mean(np.abs(point - truth)) < 2
    with pytest.raises(DomainError, match="need at least 10 issues"):
        fit_stacking(answers, truth[:5], ids[:5])
    with pytest.raises(DomainError, match="compromise model is needed"):
        fit_stacking({"good": truth}, truth, ids)


def test_stacking_fills_missing_answers_with_the_compromise() -> None:
    truth = np.linspace(0, 100, 20)
    answers = {"compromise": truth.copy(), "holey": np.where(np.arange(20) % 2 == 0, np.nan, 0.0)}
    stacking = fit_stacking(answers, truth, [str(k) for k in range(20)])
    assert stacking.weights[0] > 0.9


def test_folds_are_fixed_by_issue_id() -> None:
    assert fold_of(["d00032i1", "x"], 10).tolist() == fold_of(["d00032i1", "x"], 10).tolist()
    assert set(fold_of([f"i{k}" for k in range(200)], 5).tolist()) == {0, 1, 2, 3, 4}
