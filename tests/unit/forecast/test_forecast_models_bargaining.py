"""Each bargaining model against hand-computed cases and its published definition."""

import math

import numpy as np
import pytest
from forecast_models_data import shared_deu
from hypothesis import given
from hypothesis import strategies as st

from backchannel.errors import DomainError
from backchannel.forecast.dataset import IssueSet
from backchannel.forecast.models import (
    BargainingInputs,
    Uncertainty,
    commission,
    compromise,
    constant_50,
    median_actor,
    perturb,
    predictive_interval,
    reference_point,
    weighted_median,
    weighted_median_of,
)
from backchannel.forecast.models_eu import expected_utility, expected_utility_rounds
from backchannel.forecast.models_nash import nash_reference, nash_worst


@pytest.fixture(scope="module")
def deu() -> IssueSet:
    return shared_deu()


def issue(positions, saliences, capabilities=None, reference=math.nan, commission_position=math.nan):
    x = np.array([positions], dtype=float)
    s = np.array([saliences], dtype=float)
    c = np.ones_like(x) if capabilities is None else np.array([capabilities], dtype=float)
    return BargainingInputs(
        x, s, c, np.ones_like(x, dtype=bool), np.array([reference]), np.array([commission_position])
    )


def test_compromise_is_the_capability_times_salience_weighted_mean() -> None:
    # weights 1*60 = 60 at 0 and 2*20 = 40 at 100: 40
    assert compromise(issue([0, 100], [60, 20], [1, 2]))[0] == pytest.approx(40)
    # all saliences zero: the unweighted mean
    assert compromise(issue([0, 30], [0, 0]))[0] == pytest.approx(15)


def test_weighted_median_hand_cases() -> None:
    assert weighted_median(issue([10, 40, 90], [1, 1, 3]))[0] == 90
    assert weighted_median(issue([10, 40, 90], [1, 1, 1]))[0] == 40
    assert weighted_median(issue([0, 100], [50, 50]))[0] == 50  # an exact split: the midpoint
    assert weighted_median(issue([90, 10, 40], [2, 1, 1]))[0] == 65  # unsorted input, exact split at 40 | 90
    assert np.isnan(weighted_median_of(np.array([1.0, 2.0]), np.zeros(2)))


def test_zero_weight_actors_never_decide_the_median() -> None:
    assert weighted_median_of(np.array([0.0, 5.0, 10.0]), np.array([1.0, 0.0, 1.0])) == 5.0  # 0 | 10 midpoint
    assert weighted_median_of(np.array([0.0, 5.0, 10.0]), np.array([2.0, 0.0, 1.0])) == 0.0


def test_baselines() -> None:
    inputs = issue([0, 20, 100], [1, 1, 1], reference=30, commission_position=70)
    assert median_actor(inputs)[0] == 20
    assert commission(inputs)[0] == 70
    assert reference_point(inputs)[0] == 30
    assert constant_50(inputs)[0] == 50


def test_nash_worst_with_two_actors_is_the_weighted_mean() -> None:
    # max log(100 - x) + 3 log(x): x = 75
    assert nash_worst(issue([0, 100], [1, 3]))[0] == pytest.approx(75, abs=1e-6)
    assert nash_worst(issue([0, 100], [0, 0]))[0] != nash_worst(issue([0, 100], [0, 0]))[0]  # NaN: no weight


@given(
    st.lists(st.tuples(st.integers(0, 100), st.integers(1, 100)), min_size=1, max_size=6),
)
def test_nash_worst_maximises_the_nash_product(actors) -> None:
    x = np.array([a for a, _ in actors], dtype=float)
    w = np.array([b for _, b in actors], dtype=float)
    got = nash_worst(issue(x, w))[0]
    grid = np.linspace(0, 100, 20001)
    gain = np.maximum(x, 100 - x)[None, :] - np.abs(grid[:, None] - x[None, :])
    with np.errstate(divide="ignore"):
        objective = (w * np.log(np.maximum(gain, 0))).sum(axis=1)
    best = grid[np.argmax(objective)]
    value = lambda y: (w * np.log(np.maximum(np.maximum(x, 100 - x) - np.abs(y - x), 1e-300))).sum()  # noqa: E731
    assert value(got) >= value(best) - 1e-6


def test_nash_reference_hand_cases() -> None:
    # both actors above r = 0: feasible [0, 120]; the product rises up to 80 (weights 1, 3) and falls after
    assert nash_reference(issue([60, 80], [1, 3], reference=0))[0] == pytest.approx(80, abs=1e-6)
    # equal weights: log(120 - x) + log(x) peaks at 60
    assert nash_reference(issue([60, 80], [1, 1], reference=0))[0] == pytest.approx(60, abs=1e-6)
    # actors on both sides of r: only r is feasible under unanimity
    assert nash_reference(issue([10, 90], [1, 1], reference=50))[0] == 50
    # an actor at r vetoes any move
    assert nash_reference(issue([50, 90], [1, 1], reference=50))[0] == 50
    assert np.isnan(nash_reference(issue([10, 90], [1, 1]))[0])


def reference_eu_round(z, s, w):
    """One round of the expected-utility model, written with loops from the published steps."""
    n = len(z)

    def prob(a, b):
        votes = [w[k] * (abs(z[k] - z[b]) - abs(z[k] - z[a])) for k in range(n)]
        total = sum(abs(v) for v in votes)
        return sum(max(v, 0) for v in votes) / total if total > 0 else 0.0

    def eu(a, b, r):
        d = abs(z[a] - z[b])
        us, uf, uq = 2 - 4 * (0.5 - 0.5 * d) ** r, 2 - 4 * (0.5 + 0.5 * d) ** r, 2 - 4 * 0.5**r
        p = prob(a, b)
        return s[b] * (p * us + (1 - p) * uf) + (1 - s[b]) * us - uq

    danger = [sum(eu(j, i, 1.0) for j in range(n) if j != i) for i in range(n)]
    hi, lo = max(danger), min(danger)
    risk = [(2 * d - hi - lo) / (hi - lo) if hi > lo else 0.0 for d in danger]
    r = [(1 - big / 3) / (1 + big / 3) for big in risk]
    new = list(z)
    for i in range(n):
        best = None
        for j in range(n):
            if z[i] == z[j]:
                continue
            e, f = eu(i, j, r[i]), eu(j, i, r[i])
            if f > e > 0 or (f > 0 > e and f <= -e):
                target = z[j]
            elif f > 0 > e:
                target = z[i] + (z[j] - z[i]) * abs(e / f)
            else:
                continue
            if best is None or abs(target - z[i]) < abs(best - z[i]):
                best = target
        if best is not None:
            new[i] = best
    return new


@pytest.mark.parametrize("seed", range(8))
def test_expected_utility_matches_the_published_steps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    x = rng.integers(0, 11, n) * 10.0
    s = rng.integers(1, 11, n) * 10.0
    c = rng.integers(1, 5, n).astype(float)
    inputs = issue(x, s, c)
    lo, span = x.min(), x.max() - x.min()
    z = list((x - lo) / span) if span > 0 else [0.0] * n
    for rounds in range(3):
        got = expected_utility_rounds(inputs, rounds)[0]
        assert got == pytest.approx([lo + span * v for v in z] if span > 0 else x, abs=1e-9)
        z = reference_eu_round(z, list(s / 100), list(c * s))


def test_expected_utility_two_equal_actors_do_not_move() -> None:
    # P = 1/2, d = 1: EU = 1/2 * 2 + 1/2 * (-2) - 0 = 0 for both, so no offer is made
    inputs = issue([0, 100], [100, 100])
    assert expected_utility_rounds(inputs, 3)[0].tolist() == [0, 100]
    assert expected_utility(inputs)[0] == 50


def test_expected_utility_degenerate_and_bad_rounds() -> None:
    assert expected_utility(issue([40, 40], [50, 50]))[0] == 40
    with pytest.raises(DomainError, match="rounds: must be >= 0"):
        expected_utility_rounds(issue([0, 1], [1, 1]), -1)


def test_inputs_are_checked_by_field() -> None:
    x = np.zeros((1, 2))
    ok = np.ones((1, 2), dtype=bool)
    with pytest.raises(DomainError, match="saliences: shape"):
        BargainingInputs(x, np.zeros((1, 3)), x, ok, np.zeros(1), np.zeros(1))
    with pytest.raises(DomainError, match="reference: shape"):
        BargainingInputs(x, x, x, ok, np.zeros(2), np.zeros(1))
    with pytest.raises(DomainError, match=r"positions: must be in \[0, 100\]"):
        BargainingInputs(x + 101, x, x, ok, np.zeros(1), np.zeros(1))


def test_capability_schemes(deu: IssueSet) -> None:
    votes = BargainingInputs.from_issue_set(deu, capabilities="votes")
    assert votes.capabilities[0, deu.actors.index("de")] == 10
    assert votes.capabilities[0, deu.actors.index("com")] == pytest.approx(87 / 15)
    with pytest.raises(DomainError, match="capabilities: must be 'equal' or 'votes'"):
        BargainingInputs.from_issue_set(deu, capabilities="gdp")
    odd = IssueSet(("i",), ("xx",), np.ones((1, 1)), np.ones((1, 1)), np.ones(1), np.ones(1), ("",))
    with pytest.raises(DomainError, match="no Council votes for actor"):
        BargainingInputs.from_issue_set(odd, capabilities="votes")
    assert np.isnan(BargainingInputs.from_issue_set(odd).commission[0])


def test_monte_carlo_interval_is_seeded_and_contains_the_point(deu: IssueSet) -> None:
    inputs = BargainingInputs.from_issue_set(deu)
    first = predictive_interval(compromise, inputs, Uncertainty(), np.random.default_rng(7), draws=100)
    again = predictive_interval(compromise, inputs, Uncertainty(), np.random.default_rng(7), draws=100)
    assert np.array_equal(first.low, again.low)
    assert first.level == 0.95
    assert np.all(first.low <= first.high)
    assert np.mean((first.low <= first.point) & (first.point <= first.high)) > 0.95
    flat = predictive_interval(nash_worst, inputs, Uncertainty(0, 0, 0), np.random.default_rng(1), draws=3)
    assert np.allclose(flat.low, flat.point)
    assert np.allclose(flat.high, flat.point)
    ref = predictive_interval(reference_point, inputs, Uncertainty(), np.random.default_rng(1), draws=5)
    assert np.isnan(ref.low[np.isnan(deu.reference)]).all()


def test_perturbation_shapes_and_errors(deu: IssueSet) -> None:
    inputs = BargainingInputs.from_issue_set(deu)
    drawn = perturb(inputs, Uncertainty(), np.random.default_rng(0), 4)
    assert drawn.positions.shape == (4, 173, 17)
    assert drawn.reference.shape == (4, 173)
    assert expected_utility(drawn).shape == (4, 173)
    with pytest.raises(DomainError, match="draws: must be >= 1"):
        perturb(inputs, Uncertainty(), np.random.default_rng(0), 0)
    with pytest.raises(DomainError, match="uncertainty.position_sd"):
        Uncertainty(position_sd=-1)
    with pytest.raises(DomainError, match=r"level: must be in \(0, 1\)"):
        predictive_interval(compromise, inputs, Uncertainty(), np.random.default_rng(0), level=1.5)
