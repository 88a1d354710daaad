"""Properties every model keeps, on random issues (Hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.forecast.ensemble import MODELS, disagreement
from backchannel.forecast.models import BargainingInputs

actor = st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(1, 10))
issues = st.lists(actor, min_size=1, max_size=7)


def inputs_of(actors, reference, order=None) -> BargainingInputs:
    rows = [actors[i] for i in (order or range(len(actors)))]
    x = np.array([[a for a, _, _ in rows]], dtype=float)
    s = np.array([[b for _, b, _ in rows]], dtype=float)
    c = np.array([[k for _, _, k in rows]], dtype=float)
    return BargainingInputs(
        x, s, c, np.ones_like(x, dtype=bool), np.array([float(reference)]), np.array([float(x[0, 0])])
    )


@settings(max_examples=25)
@given(issues, st.integers(0, 100), st.randoms(use_true_random=False))
def test_models_stay_on_the_scale_and_ignore_actor_order(actors, reference, random) -> None:
    order = list(range(len(actors)))
    random.shuffle(order)
    first, shuffled = inputs_of(actors, reference), inputs_of(actors, reference, order)
    shuffled = BargainingInputs(
        shuffled.positions, shuffled.saliences, shuffled.capabilities, shuffled.present,
        shuffled.reference, first.commission,
    )  # fmt: skip
    for name, model in MODELS.items():
        a, b = model(first)[0], model(shuffled)[0]
        if np.isnan(a):
            assert np.isnan(b), name
            continue
        assert 0 <= a <= 100, name
        assert abs(a - b) < 1e-4, name  # golden-section search: the objective is flat near its maximum


@settings(max_examples=25)
@given(issues)
def test_compromise_and_median_lie_within_the_actors_range(actors) -> None:
    inputs = inputs_of(actors, 50)
    low, high = inputs.positions.min(), inputs.positions.max()
    for name in ("compromise", "weighted_median", "median_actor", "nash_worst", "expected_utility"):
        value = MODELS[name](inputs)[0]
        if not np.isnan(value):
            assert low - 1e-6 <= value <= high + 1e-6, name


@given(st.lists(st.floats(0, 100), min_size=2, max_size=6))
def test_the_flag_is_exactly_the_spread_rule(values) -> None:
    answers = {f"m{i}": np.array([v]) for i, v in enumerate(values)}
    flags = disagreement(answers)
    assert flags.spread[0] == max(values) - min(values)
    assert bool(flags.flagged[0]) == (max(values) - min(values) > 40)
