"""Pooling and scoring against hand computations, and on the shared GJP data."""

import math
from pathlib import Path

import numpy as np
import pytest
from forecast_models_data import GJP_FORECASTS, GJP_QUESTIONS

from backchannel.errors import DomainError
from backchannel.forecast.dataset import GjpForecast, GjpQuestion, load_gjp_forecasts, load_gjp_questions
from backchannel.forecast.pooling import (
    _pool_spread,
    add_judges,
    brier,
    collect_judgements,
    evaluate_pools,
    fit_extremizing,
    log_score,
    pool_linear,
    pool_logodds,
)
from backchannel.forecast.reliability import calibration_bins, write_reliability_png


def test_pools_by_hand() -> None:
    judges = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert pool_linear(judges).tolist() == pytest.approx([0.4, 0.6])
    # mean log-odds of yes: (ln(0.25) + ln(1.5)) / 2 = ln(sqrt(0.375)); p = sqrt(.375) / (1 + sqrt(.375))
    odds = math.sqrt(0.25 * 1.5)
    assert pool_logodds(judges)[0] == pytest.approx(odds / (1 + odds))
    # extremizing by a = 2 squares the pooled odds
    assert pool_logodds(judges, 2.0)[0] == pytest.approx(odds**2 / (1 + odds**2))
    # three options: the normalised geometric mean
    three = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0.0]])
    g = np.array([0.5, math.sqrt(0.125), math.sqrt(0.25 * 0.01)])
    assert pool_logodds(three).tolist() == pytest.approx((g / g.sum()).tolist())


def test_scores_by_hand() -> None:
    assert brier(np.array([0.7, 0.3]), 0) == pytest.approx(0.18)  # 0.3^2 + 0.3^2
    assert brier(np.array([0.2, 0.5, 0.3]), 1) == pytest.approx(0.04 + 0.25 + 0.09)
    assert log_score(np.array([0.25, 0.75]), 1) == pytest.approx(-math.log(0.75))
    assert log_score(np.array([1.0, 0.0]), 1) == pytest.approx(-math.log(0.01))


def q(ifp: str, outcome: str | None, n: int = 2) -> GjpQuestion:
    opts = tuple("abc"[:n])
    return GjpQuestion(ifp, ifp, 0, opts, opts, outcome)


def f(ifp: str, user: str, fid: str, option: str, value: float, ts: str = "2011-09-01") -> GjpForecast:  # noqa: PLR0917
    return GjpForecast(ifp, user, fid, option, value, ts)


def test_latest_submission_per_forecaster_and_missing_options() -> None:
    questions = {"q": q("q", "a", 3)}
    rows = [
        f("q", "u1", "1", "a", 0.2, "2011-09-01"),
        f("q", "u1", "1", "b", 0.8, "2011-09-01"),
        f("q", "u1", "2", "a", 0.6, "2011-09-05"),  # b and c missing: they share the remaining 0.4
        f("q", "u2", "3", "a", 0.49, "2011-09-02"),
        f("q", "u2", "3", "b", 0.49, "2011-09-02"),
        f("q", "u2", "3", "c", 0.0, "2011-09-02"),  # sums to 0.98: renormalised
    ]
    judgements = collect_judgements(questions, rows)["q"]
    assert np.allclose(judgements, [[0.6, 0.2, 0.2], [0.5, 0.5, 0.0]])
    with pytest.raises(DomainError, match=r"forecasts\[9\]: probabilities sum to 1.200"):
        collect_judgements(questions, [f("q", "u", "9", "a", 0.6), f("q", "u", "9", "b", 0.6)])
    with pytest.raises(DomainError, match=r"forecasts\[8\]: probabilities sum to 0"):
        collect_judgements(
            questions, [f("q", "u", "8", "a", 0.0), f("q", "u", "8", "b", 0.0), f("q", "u", "8", "c", 0.0)]
        )


def test_extremizing_is_fitted_out_of_sample() -> None:
    questions = {name: q(name, "a") for name in ("q1", "q2", "q3")} | {"q4": q("q4", None)}
    rows = [f(name, "u", name, "a", 0.7) for name in questions] + [
        f(name, "u", name, "b", 0.3) for name in questions
    ]
    report = evaluate_pools(questions, rows)
    assert report.questions == ("q1", "q2", "q3")  # q4 is unresolved
    # every crowd was right: the most extreme exponent in the grid wins, leave-one-out or not
    assert report.extremizing == (4.0, 4.0, 4.0)
    assert report.brier["extremized"] < report.brier["logodds"] == pytest.approx(report.brier["linear"])
    assert report.to_dict()["extremizing"]["fit"].startswith("leave-one-question-out")
    with pytest.raises(DomainError, match="need at least 2 resolved"):
        evaluate_pools({"q1": questions["q1"]}, rows[:1] + rows[4:5])
    with pytest.raises(DomainError, match="no resolved questions"):
        fit_extremizing([])


def test_gjp_pooling_beats_the_linear_mean_in_log_odds() -> None:
    questions = load_gjp_questions(GJP_QUESTIONS)
    report = evaluate_pools(questions, load_gjp_forecasts(GJP_FORECASTS, questions))
    assert len(report.questions) == 18
    assert report.binary == 14
    assert report.brier["linear"] == pytest.approx(0.374, abs=0.001)  # the README's figure
    assert report.brier["logodds"] < report.brier["linear"]
    assert report.log_score["logodds"] < report.log_score["linear"]
    assert report.brier["extremized_in_sample"] <= 0.355


def test_reliability_bins_and_png(tmp_path: Path) -> None:
    pooled = [np.array([0.9, 0.1]), np.array([0.15, 0.85]), np.array([0.5, 0.3, 0.2])]
    mean_p, freq, counts = calibration_bins(pooled, [0, 0, 2], bins=2)
    # bin [0, .5): 0.1, 0.15, 0.3, 0.2 (hits: 0, 1, 0, 1); bin [.5, 1]: 0.9, 0.85, 0.5 (hits 1, 0, 0)
    assert counts.tolist() == [4, 3]
    assert mean_p.tolist() == pytest.approx([0.1875, 2.25 / 3])
    assert freq.tolist() == pytest.approx([0.5, 1 / 3])
    path = write_reliability_png({"linear": pooled}, [0, 0, 2], tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(DomainError, match="calibration"):
        calibration_bins(pooled, [0], bins=2)


def test_models_join_the_pool_as_judges() -> None:
    questions = {"q1": q("q1", "a"), "q2": q("q2", "b")}
    rows = [f("q1", "u", "1", "a", 0.6), f("q1", "u", "1", "b", 0.4), f("q2", "u", "2", "a", 0.5)]
    rows.append(f("q2", "u", "2", "b", 0.5))
    extra = {"compromise": {"q1": np.array([0.9, 0.1]), "q3": np.array([0.2, 0.8])}}
    merged = add_judges(collect_judgements(questions, rows), extra)
    assert merged["q1"].shape == (2, 2)
    assert merged["q3"].tolist() == [[0.2, 0.8]]
    report = evaluate_pools(questions, rows, extra={"model": {"q1": np.array([0.9, 0.1])}})
    assert report.pooled["linear"][0].tolist() == pytest.approx([0.75, 0.25])
    with pytest.raises(DomainError, match=r"judges\[m\]\[q1\]: must be 2 probabilities summing to 1"):
        add_judges(collect_judgements(questions, rows), {"m": {"q1": np.array([0.9, 0.3])}})


def test_pools_far_apart_are_flagged() -> None:
    questions = {"q1": q("q1", "a"), "q2": q("q2", "a")}
    # two confident judges against one: the linear pool stays near 2/3, the extremized one goes to ~1
    rows = []
    for name in ("q1", "q2"):
        for user, p in (("u1", 0.99), ("u2", 0.99), ("u3", 0.01)):
            rows += [f(name, user, name + user, "a", p), f(name, user, name + user, "b", 1 - p)]
    report = evaluate_pools(questions, rows)
    assert all(0 <= gap <= 1 for gap in report.spread)
    doc = report.to_dict()["disagreement"]
    assert doc["threshold"] == 0.4
    assert doc["flagged"] == [qq for qq, gap in doc["spread"].items() if gap > 0.4]
    pooled = {
        "linear": [np.array([0.55, 0.45])],
        "logodds": [np.array([0.7, 0.3])],
        "extremized": [np.array([0.96, 0.04])],
    }
    assert _pool_spread(pooled, 0) == pytest.approx(0.41)
