"""Outcome spaces (enumeration order, conversions, agendas) and linear additive preferences."""

import itertools
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backchannel.domain.agenda import Agenda, BooleanIssue, ChoiceIssue, DateIssue, NumberIssue, TextIssue
from backchannel.errors import ConfigurationError
from backchannel.negotiation.preferences import (
    LinearAdditivePreferences,
    LinearValue,
    StepValue,
    TableValue,
    TriangularValue,
    check_weights,
)
from backchannel.negotiation.space import DiscreteIssue, OutcomeSpace

shapes = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4)


def _space(shape):
    return OutcomeSpace(tuple(DiscreteIssue(f"i{k}", tuple(range(n))) for k, n in enumerate(shape)))


@given(shapes)
def test_enumeration_is_itertools_product_last_issue_fastest(shape):
    space = _space(shape)
    expected = list(itertools.product(*(issue.values for issue in space.issues)))
    assert [space.outcome(i) for i in range(space.n_outcomes)] == expected
    assert [space.index(o) for o in expected] == list(range(space.n_outcomes))
    assert [tuple(row) for row in space.values_matrix()] == expected  # positions == values here
    named = dict(zip(space.names, expected[-1], strict=True))
    assert space.index(named) == space.n_outcomes - 1


def test_agenda_becomes_a_space():
    agenda = Agenda(
        version=1,
        issues=(
            NumberIssue("enrichment_cap_pct", "%", 0.0, 5.0, step=2.5),
            ChoiceIssue("sanctions_relief", ("none", "partial", "full")),
            BooleanIssue("snapback"),
        ),
    )
    space = OutcomeSpace.from_agenda(agenda)
    assert space.shape == (3, 3, 2)
    assert space.issues[0].values == (0.0, 2.5, 5.0)
    assert space.outcome(0) == (0.0, "none", False)
    assert space.outcome(17) == (5.0, "full", True)
    assert space.index({"enrichment_cap_pct": 2.5, "sanctions_relief": "partial", "snapback": True}) == 9
    assert space.values_matrix()[9].tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("issue", "message"),
    [
        (
            DateIssue("review_date", date(2026, 1, 1), date(2030, 1, 1)),
            "review_date: a date issue has no finite set",
        ),
        (TextIssue("notes", 2000), "notes: a text issue has no finite set"),
        (NumberIssue("cap", "%", 0.0, 90.0), "cap: a number issue needs a positive step"),
        (
            NumberIssue("cap", "%", 0.0, 90.0, step=0.001),
            "cap: the grid 0.0..90.0 step 0.001 has 90001 values",
        ),
    ],
)
def test_agenda_issues_that_cannot_be_enumerated(issue, message):
    with pytest.raises(ConfigurationError, match=message):
        OutcomeSpace.from_agenda(Agenda(version=1, issues=(issue,)))


def test_space_limits_and_errors():
    with pytest.raises(
        ConfigurationError, match=r"issues: an outcome space needs at least one issue \(no outcomes\)"
    ):
        OutcomeSpace(())
    with pytest.raises(
        ConfigurationError, match=r"issues\[0\]\.values: issue 'x' has no values \(no outcomes\)"
    ):
        OutcomeSpace((DiscreteIssue("x", ()),))
    with pytest.raises(ConfigurationError, match="more than the limit of 10"):
        OutcomeSpace(
            (DiscreteIssue("x", tuple(range(4))), DiscreteIssue("y", tuple(range(4)))), max_outcomes=10
        )
    agenda = Agenda(
        version=1,
        issues=(NumberIssue("a", "t", 0.0, 9.0, step=1.0), NumberIssue("b", "t", 0.0, 9.0, step=1.0)),
    )
    with pytest.raises(ConfigurationError, match="100 outcomes, more than the limit of 50"):
        OutcomeSpace.from_agenda(agenda, max_outcomes=50)
    space = _space([2, 3])
    with pytest.raises(ConfigurationError, match="index: outcome index 6 outside"):
        space.outcome(6)
    with pytest.raises(ConfigurationError, match="outcome: expected 2 values"):
        space.index((0,))
    with pytest.raises(ConfigurationError, match="outcome: expected exactly the issues"):
        space.index({"i0": 0})
    with pytest.raises(ConfigurationError, match="i1: 7 is not one of its values"):
        space.index((0, 7))
    with pytest.raises(ConfigurationError, match="i1: True is not one of its values"):
        space.index((0, True))  # True == 1, but a boolean is not the number 1
    assert space.values_matrix().flags.writeable is False


def test_value_functions():
    numbers = DiscreteIssue("x", (0, 1, 2, 3, 4))
    assert LinearValue(0, 4).table(numbers).tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert LinearValue(4, 0).table(numbers).tolist() == [1, 0.75, 0.5, 0.25, 0]
    assert LinearValue(1, 3).table(numbers).tolist() == [0, 0, 0.5, 1, 1]
    assert TriangularValue(0, 2, 4).table(numbers).tolist() == [0, 0.5, 1, 0.5, 0]
    assert TriangularValue(1, 1, 3).table(numbers).tolist() == [0, 1, 0.5, 0, 0]
    assert TriangularValue(1, 3, 3).table(numbers).tolist() == [0, 0, 0.5, 1, 0]
    assert StepValue((1.5, 3), (0, 0.5, 1)).table(numbers).tolist() == [0, 0, 0.5, 1, 1]
    assert TableValue((0.1, 0.2, 0.3, 0.4, 0.5)).table(numbers).tolist() == [0.1, 0.2, 0.3, 0.4, 0.5]
    text = DiscreteIssue("y", ("a", "b"))
    with pytest.raises(ConfigurationError, match="non-numeric values; use a table"):
        LinearValue(0, 1).table(text)
    with pytest.raises(ConfigurationError, match="worst and best must differ"):
        LinearValue(1, 1).table(numbers)
    with pytest.raises(ConfigurationError, match="low <= peak <= high"):
        TriangularValue(2, 1, 3).table(numbers)
    with pytest.raises(ConfigurationError, match="levels: need exactly one more level"):
        StepValue((1,), (0,)).table(numbers)
    with pytest.raises(ConfigurationError, match="thresholds: must be strictly increasing"):
        StepValue((2, 1), (0, 1, 2)).table(numbers)
    with pytest.raises(ConfigurationError, match="3 values for issue 'y', which has 2"):
        TableValue((0, 1, 2)).table(text)
    with pytest.raises(ConfigurationError, match="every value must be finite"):
        TableValue((0, float("inf"))).table(text)


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=4), st.integers(0, 2**32 - 1))
def test_utilities_follow_the_formula(raw, seed):
    weights = np.array(raw) + 1e-3
    weights = (weights / weights.sum()).tolist()
    weights[-1] = 1 - sum(weights[:-1])
    rng = np.random.default_rng(seed)
    space = _space([3] * len(weights))
    tables = [rng.random(3).tolist() for _ in weights]
    prefs = LinearAdditivePreferences.from_tables(weights, tables, 0.3)
    u = prefs.utilities(space)
    for i in range(space.n_outcomes):
        total = 0.0
        for k, position in enumerate(space.positions(i)):
            total = total + weights[k] * tables[k][position]
        assert u[i] == total  # bit for bit: "issues summed in order k = 0, 1, 2"


def test_preferences_validation_and_discounting():
    with pytest.raises(ConfigurationError, match=r"weights: must sum to 1 \(got 0\.8\)"):
        check_weights([0.5, 0.3])
    with pytest.raises(ConfigurationError, match=r"weights\[1\]: must be a finite number >= 0"):
        check_weights([1.5, -0.5])
    with pytest.raises(ConfigurationError, match="weights: need one weight per issue"):
        check_weights([])
    with pytest.raises(ConfigurationError, match="value_functions: 1 given for 2 weights"):
        LinearAdditivePreferences((0.5, 0.5), (TableValue((0.0,)),), 0.0)
    with pytest.raises(ConfigurationError, match="reserved_value: must be finite"):
        LinearAdditivePreferences.from_tables([1.0], [[0.0]], float("nan"))
    with pytest.raises(ConfigurationError, match=r"discount: must be in \(0, 1\]"):
        LinearAdditivePreferences((1.0,), (TableValue((0.0,)),), 0.0, discount=0.0)
    prefs = LinearAdditivePreferences((1.0,), (LinearValue(0, 2),), 0.1, discount=0.5)
    with pytest.raises(ConfigurationError, match="weights: 1 weights for 2 issues"):
        prefs.utilities(_space([2, 2]))
    u = prefs.utilities(_space([3]))
    assert u.tolist() == [0, 0.5, 1]
    assert prefs.discounted(u, 1.0).tolist() == [0, 0.25, 0.5]
    with pytest.raises(ConfigurationError, match=r"t: relative time must be in \[0, 1\]"):
        prefs.discounted(u, 2.0)
