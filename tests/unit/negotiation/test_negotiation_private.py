"""Uncertainty (Monte Carlo draws), elicitation by points and the privacy rule."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backchannel.errors import ConfigurationError, DomainError
from backchannel.negotiation.preferences import LinearAdditivePreferences
from backchannel.negotiation.private import (
    MediatorGrant,
    PreferenceUncertainty,
    PrivatePreferences,
    ReservedDistribution,
    elicit,
    may_see,
    reveal,
)
from backchannel.negotiation.space import DiscreteIssue, OutcomeSpace

SPACE = OutcomeSpace(
    (DiscreteIssue("relief", ("none", "partial", "full")), DiscreteIssue("snapback", (False, True)))
)
POINT = LinearAdditivePreferences.from_tables([0.7, 0.3], [[0.0, 0.6, 1.0], [1.0, 0.0]], 0.4)


def test_uncertainty_draws_centre_on_the_point():
    uncertainty = PreferenceUncertainty(
        POINT, concentration=200.0, reserved=ReservedDistribution("uniform", 0.3, 0.5)
    )
    weights, reserved = uncertainty.sample(np.random.default_rng(1), 4000)
    assert weights.shape == (4000, 2)
    assert np.allclose(weights.sum(axis=1), 1.0)
    assert weights.mean(axis=0) == pytest.approx([0.7, 0.3], abs=0.01)
    assert reserved.min() >= 0.3
    assert reserved.max() <= 0.5
    again, _ = uncertainty.sample(np.random.default_rng(1), 4000)
    assert np.array_equal(weights, again)  # the generator is the only source of randomness
    preferences = uncertainty.sample_preferences(np.random.default_rng(2), 5)
    assert len(preferences) == 5
    assert all(p.value_functions == POINT.value_functions for p in preferences)
    fixed = PreferenceUncertainty(POINT, 10.0).sample(np.random.default_rng(3), 3)[1]
    assert fixed.tolist() == [0.4, 0.4, 0.4]


def test_normal_reserved_values_are_clipped():
    draws = ReservedDistribution("normal", 0.2, 0.6, mean=0.4, sd=1.0).sample(np.random.default_rng(0), 1000)
    assert draws.min() == 0.2
    assert draws.max() == 0.6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PreferenceUncertainty(POINT, 0.0), "concentration: must be a finite number > 0"),
        (lambda: PreferenceUncertainty(POINT, 1.0).sample(np.random.default_rng(0), 0), "n: must be >= 1"),
        (lambda: ReservedDistribution("beta", 0, 1), "reserved.kind: unknown distribution 'beta'"),
        (lambda: ReservedDistribution("uniform", 1, 0), "reserved: need finite low <= high"),
        (lambda: ReservedDistribution("normal", 0, 1, mean=0.5, sd=-1), "reserved.sd: must be >= 0"),
    ],
)
def test_uncertainty_errors(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_elicitation_by_points():
    prefs = elicit(
        SPACE,
        {"relief": 70, "snapback": 30},
        {"relief": {"none": 0, "partial": 40, "full": 60}, "snapback": {"False": 100}},
        0.4,
    )
    assert prefs.weights == (0.7, 0.3)
    u = prefs.utilities(SPACE)
    assert u[SPACE.index(("full", False))] == pytest.approx(1.0)
    assert u[SPACE.index(("partial", True))] == pytest.approx(0.7 * 40 / 60)
    assert u[SPACE.index(("none", True))] == 0.0


@pytest.mark.parametrize(
    ("issues", "options", "message"),
    [
        ({"relief": 70, "snapback": 20}, {}, r"issue_points: points must sum to 100 \(got 90\)"),
        ({"relief": 70, "snapback": 30, "x": 0}, {}, r"issue_points\.x: unknown"),
        (
            {"relief": 110, "snapback": -10},
            {},
            r"issue_points\.snapback: points must be a finite number >= 0",
        ),
        (
            {"relief": 70, "snapback": 30},
            {"relief": {"none": 0, "partial": 40, "full": 50}, "snapback": {"True": 100}},
            r"option_points\.relief: points must sum to 100 \(got 90\)",
        ),
        (
            {"relief": 70, "snapback": 30},
            {"relief": {"lots": 100}, "snapback": {"True": 100}},
            r"option_points\.relief\.lots: unknown",
        ),
        ({"relief": 70, "snapback": 30}, {"colour": {}}, r"option_points\.colour: unknown issue"),
    ],
)
def test_elicitation_errors_name_the_field(issues, options, message):
    with pytest.raises(ConfigurationError, match=message):
        elicit(SPACE, issues, options, 0.0)


@given(st.sampled_from(["iran", "usa", "mediator", "observer"]), st.booleans())
def test_privacy_rule(viewer, granted):
    holder = PrivatePreferences("iran", POINT)
    grants = [MediatorGrant("iran", "mediator")] if granted else [MediatorGrant("usa", "mediator")]
    grants.append(MediatorGrant("iran", "observer"))  # names someone who is not the mediator
    allowed = may_see(holder, viewer, "mediator", grants)
    assert allowed == (viewer == "iran" or (viewer == "mediator" and granted))
    if allowed:
        assert reveal(holder, viewer, "mediator", grants) is POINT
    else:
        with pytest.raises(DomainError, match="private"):
            reveal(holder, viewer, "mediator", grants)
    assert "0.7" not in repr(holder)
