"""The blocked expected-utility model gives bit-for-bit the answers of the original formulation.

``forecast_eu_reference`` is the implementation as it stood before it was blocked
(one call over every issue-draw, sorted-line searches); ``models_eu`` is the one in
production. Both run on the shared DEU data (points and Monte Carlo draws, more
rows than one block) and on random issues from Hypothesis, ties included.
"""

import forecast_eu_reference as reference
import numpy as np
import pytest
from forecast_models_data import shared_deu
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.forecast import models_eu, models_nash
from backchannel.forecast.models import BargainingInputs, Uncertainty, perturb


def _rows(inputs: BargainingInputs, lo: int, hi: int) -> BargainingInputs:
    return BargainingInputs(
        inputs.positions[lo:hi], inputs.saliences[lo:hi], inputs.capabilities[lo:hi],
        inputs.present[lo:hi], inputs.reference[lo:hi], inputs.commission[lo:hi],
    )  # fmt: skip


@pytest.fixture(scope="module")
def deu_inputs() -> BargainingInputs:
    return BargainingInputs.from_issue_set(shared_deu(), capabilities="votes")


def _one_by_one(function, inputs: BargainingInputs, *args: int) -> np.ndarray:
    """The original run one issue at a time: with one row its sorted-line searches are exact.

    The original warns when an absent actor's discarded risk exponent divides by zero
    (pytest turns warnings into errors); the production model computes it under ``errstate``.
    """
    with np.errstate(divide="ignore"):
        return np.concatenate(
            [function(_rows(inputs, k, k + 1), *args) for k in range(inputs.positions.shape[0])]
        )


def test_blocked_model_equals_the_original_on_the_deu_issues(deu_inputs: BargainingInputs) -> None:
    assert deu_inputs.positions.shape[0] > models_eu.BLOCK_ROWS  # several blocks, the last one partial
    for rounds in (0, 1, models_eu.DEFAULT_ROUNDS):
        got = models_eu.expected_utility_rounds(deu_inputs, rounds)
        np.testing.assert_array_equal(got, _one_by_one(reference.expected_utility_rounds, deu_inputs, rounds))
        # Over a whole batch the original searched one line with rows 2.0 apart, so positions
        # within a few ulps of a midpoint could be misplaced: 1 actor of 2,941 moves by 1.4e-14.
        np.testing.assert_allclose(
            got, reference.expected_utility_rounds(deu_inputs, rounds), rtol=0, atol=1e-9
        )
    forecast = models_eu.expected_utility(deu_inputs)
    np.testing.assert_array_equal(forecast, _one_by_one(reference.expected_utility, deu_inputs))
    assert np.isfinite(forecast).all()


def test_blocked_model_equals_the_original_on_monte_carlo_draws(deu_inputs: BargainingInputs) -> None:
    drawn = perturb(deu_inputs, Uncertainty(), np.random.default_rng(7), 3)  # (3, 173, actors)
    got = models_eu.expected_utility(drawn)
    assert got.shape == (3, 173)
    np.testing.assert_allclose(got, reference.expected_utility(drawn), rtol=0, atol=1e-9)
    first = _rows(drawn, 0, 1)  # one draw: (1, 173, actors), issue by issue
    flat = BargainingInputs(
        first.positions[0], first.saliences[0], first.capabilities[0], first.present[0],
        first.reference[0], first.commission[0],
    )  # fmt: skip
    np.testing.assert_array_equal(got[0], _one_by_one(reference.expected_utility, flat))


actor = st.tuples(
    st.one_of(st.integers(0, 100).map(float), st.floats(0, 100)),  # integers make ties likely
    st.one_of(st.integers(0, 100).map(float), st.floats(0, 100)),
    st.floats(0, 10),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 9).flatmap(
        lambda n: st.lists(st.lists(actor, min_size=n, max_size=n), min_size=1, max_size=5)
    ),
    st.integers(0, 5),
)
def test_blocked_model_equals_the_original_on_random_issues(issues, rounds: int) -> None:
    def column(k: int) -> np.ndarray:
        return np.array([[a[k] for a in issue] for issue in issues])

    present = column(3).astype(bool)
    inputs = BargainingInputs(
        np.where(present, column(0), 0.0), np.where(present, column(1), 0.0), column(2), present,
        np.full(len(issues), np.nan), np.full(len(issues), np.nan),
    )  # fmt: skip
    got = models_eu.expected_utility_rounds(inputs, rounds)
    np.testing.assert_array_equal(got, _one_by_one(reference.expected_utility_rounds, inputs, rounds))
    np.testing.assert_array_equal(
        models_eu.expected_utility(inputs, rounds), _one_by_one(reference.expected_utility, inputs, rounds)
    )


def test_nash_blocks_do_not_change_an_issues_answer(deu_inputs: BargainingInputs) -> None:
    drawn = perturb(deu_inputs, Uncertainty(), np.random.default_rng(3), 8)  # 1,384 rows: two blocks
    flat = BargainingInputs(
        drawn.positions.reshape(-1, drawn.positions.shape[-1]), drawn.saliences.reshape(-1, drawn.positions.shape[-1]),
        drawn.capabilities.reshape(-1, drawn.positions.shape[-1]), drawn.present.reshape(-1, drawn.positions.shape[-1]),
        drawn.reference.reshape(-1), drawn.commission.reshape(-1),
    )  # fmt: skip
    assert flat.positions.shape[0] > models_nash.BLOCK_ROWS
    for model in (models_nash.nash_worst, models_nash.nash_reference):
        together = model(drawn)
        assert together.shape == (8, 173)
        one_by_one = np.concatenate(
            [model(_rows(flat, k, k + 1)) for k in range(0, flat.positions.shape[0], 97)]
        )
        np.testing.assert_array_equal(together.reshape(-1)[::97], one_by_one)


def test_an_absent_actors_discarded_risk_exponent_raises_no_warning() -> None:
    # dangers 2 and 1 for the two present actors, 0 for the absent one: its R is -3, 1 + R/3 = 0
    present = np.array([[False, True, True]])
    inputs = BargainingInputs(
        np.array([[0.0, 0.0, 100.0]]), np.array([[0.0, 0.0, 25.0]]), np.zeros((1, 3)), present,
        np.array([np.nan]), np.array([np.nan]),
    )  # fmt: skip
    got = models_eu.expected_utility_rounds(inputs, 2)  # warnings are errors under pytest
    np.testing.assert_array_equal(got, _one_by_one(reference.expected_utility_rounds, inputs, 2))


def test_nash_reference_stays_on_the_scale() -> None:
    # one actor at 100, reference 0: the search interval is [0, 200] and the maximum is at 100
    x = np.array([[100.0]])
    inputs = BargainingInputs(
        x, np.ones_like(x), np.ones_like(x), np.ones_like(x, dtype=bool), np.zeros(1), np.zeros(1)
    )
    assert models_nash.nash_reference(inputs)[0] == pytest.approx(100.0, abs=1e-9)
    assert models_nash.nash_reference(inputs)[0] <= 100.0
