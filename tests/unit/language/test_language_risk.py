"""Rejection risk: inputs, the NumPy logistic fit, calibration on the documented simulation."""

import numpy as np
import pytest

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.language.coding import Coder
from backchannel.language.risk import (
    TRUE_COEFFICIENTS,
    RiskInputs,
    RiskModel,
    exchange_trend,
    position_distance,
    simulate_exchanges,
)

ISSUES = {"enrichment_cap_pct": (0.0, 90.0), "sanctions_relief": ["none", "partial", "full"]}


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return RiskModel.simulated(np.random.default_rng(15))


def test_distance_per_issue() -> None:
    mean, per_issue = position_distance(
        {"enrichment_cap_pct": 3.67, "sanctions_relief": "partial"},
        {"enrichment_cap_pct": 20.0, "sanctions_relief": "full"},
        ISSUES,
    )
    assert per_issue == pytest.approx({"enrichment_cap_pct": 16.33 / 90, "sanctions_relief": 0.5})
    assert mean == pytest.approx((16.33 / 90 + 0.5) / 2)


@pytest.mark.parametrize(
    ("proposal", "position", "issues", "error", "message"),
    [
        ({}, {}, ISSUES, EncodingError, r"^proposal: must name"),
        ({"x": 1}, {}, ISSUES, EncodingError, r"^proposal\.x: not an issue"),
        (
            {"enrichment_cap_pct": 1},
            {},
            ISSUES,
            EncodingError,
            r"^position\.enrichment_cap_pct: the recipient",
        ),
        (
            {"enrichment_cap_pct": 91},
            {"enrichment_cap_pct": 1},
            ISSUES,
            EncodingError,
            r"proposal\.enrichment_cap_pct: must be a number from 0 to 90",
        ),
        (
            {"enrichment_cap_pct": 1},
            {"enrichment_cap_pct": "x"},
            ISSUES,
            EncodingError,
            r"^position\.enrichment_cap_pct: must be a number",
        ),
        (
            {"sanctions_relief": "all"},
            {"sanctions_relief": "none"},
            ISSUES,
            EncodingError,
            r"must be one of none\|partial\|full",
        ),
        (
            {"a": 1},
            {"a": 1},
            {"a": (2.0, 1.0)},
            ConfigurationError,
            r"issues\.a: the range must have high > low",
        ),
        ({"a": "x"}, {"a": "x"}, {"a": ["x"]}, ConfigurationError, r"issues\.a: needs"),
    ],
)
def test_bad_positions_name_the_field(proposal, position, issues, error, message) -> None:
    with pytest.raises(error, match=message):
        position_distance(proposal, position, issues)


def test_trend_is_the_slope_of_the_last_messages() -> None:
    assert exchange_trend([]) == 0.0
    assert exchange_trend([-3.0]) == 0.0
    assert exchange_trend([0.0, -1.0, -2.0, -3.0]) == pytest.approx(-1.0)
    assert exchange_trend([9.0, 9.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(1.0)  # window of 6


def test_the_fit_recovers_the_simulation_and_is_calibrated(model: RiskModel) -> None:
    calibration = model.calibration
    print("risk model:", model.coefficients, calibration.to_dict())
    assert calibration.n_train == 14_000
    assert calibration.n_test == 6_000
    # the recipients' noise attenuates the fitted weights a little; signs and order must hold
    assert np.sign(model.coefficients).tolist() == np.sign(TRUE_COEFFICIENTS).tolist()
    assert np.allclose(model.coefficients, TRUE_COEFFICIENTS, atol=0.5)
    assert calibration.ece <= 0.03  # reached: 0.018
    assert calibration.brier <= 0.21  # reached: 0.203 (a coin is 0.25)
    assert sum(b.count for b in calibration.bins) == 6_000
    assert all(abs(b.predicted - b.observed) < 0.05 for b in calibration.bins if b.count >= 300)


def test_same_seed_same_model() -> None:
    a = RiskModel.simulated(np.random.default_rng(7), n=2_000)
    b = RiskModel.simulated(np.random.default_rng(7), n=2_000)
    assert a == b
    assert a != RiskModel.simulated(np.random.default_rng(8), n=2_000)


def test_score_comes_with_its_inputs(model: RiskModel) -> None:
    coder = Coder()
    hot = model.assess(
        coder.code("This is our final offer: a cap at 3.67%, take it or leave it."),
        {"enrichment_cap_pct": 3.67},
        {"enrichment_cap_pct": 60.0},
        ISSUES,
        history=[-2.0, -4.0, -5.8, -7.0],
    )
    calm = model.assess(
        coder.code("We propose a cap at 3.67% for discussion."),
        {"enrichment_cap_pct": 3.67},
        {"enrichment_cap_pct": 5.0},
        ISSUES,
        history=[-2.0, 0.0, 3.0, 4.0],
    )
    assert hot.probability > 0.8
    assert calm.probability < 0.3
    doc = hot.to_dict()
    assert set(doc) == {"probability", "inputs", "contributions", "calibration"}
    assert doc["inputs"]["goldstein"] == -7.0
    assert set(doc["contributions"]) == {"base", "severity", "distance", "worsening"}
    assert "rejection risk" in str(hot)
    assert "severity" in str(hot)


def test_each_input_raises_the_risk(model: RiskModel) -> None:
    base = RiskInputs(None, 0.2, 0.0, {})
    p = model.score(base).probability
    assert model.score(RiskInputs(-7.0, 0.2, 0.0, {})).probability > p
    assert model.score(RiskInputs(None, 0.8, 0.0, {})).probability > p
    assert model.score(RiskInputs(None, 0.2, -3.0, {})).probability > p
    assert model.score(RiskInputs(4.0, 0.2, 0.0, {})).probability == p  # cooperation is not negative severity


def test_fit_refuses_bad_data() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(ConfigurationError, match="x: must be n x 3"):
        RiskModel.fit(np.zeros((10, 2)), np.zeros(10), rng, "t")
    with pytest.raises(ConfigurationError, match="y: labels must be 0 or 1"):
        RiskModel.fit(np.zeros((10, 3)), np.full(10, 2.0), rng, "t")
    with pytest.raises(ConfigurationError, match="test_share"):
        RiskModel.fit(np.zeros((10, 3)), np.zeros(10), rng, "t", test_share=1.0)
    with pytest.raises(ConfigurationError, match="n: at least 100"):
        simulate_exchanges(rng, 10)
