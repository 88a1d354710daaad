"""Outcome analysis against brute force (Hypothesis) and against the shared scenario's derived values."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import ConfigurationError
from backchannel.negotiation import analysis

# Small integer-valued utilities make ties and duplicates common, which is where frontiers go wrong.
utility_grids = st.integers(min_value=2, max_value=3).flatmap(
    lambda k: st.lists(
        st.lists(st.integers(min_value=0, max_value=5), min_size=k, max_size=k), min_size=1, max_size=40
    )
)


def _dominates(a, b) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


@given(utility_grids)
def test_pareto_mask_matches_brute_force(rows):
    u = np.array(rows, dtype=float) / 5.0
    mask = analysis.pareto_mask(u)
    for i, row in enumerate(u):
        undominated = not any(_dominates(other, row) for other in u)
        assert mask[i] == undominated, (i, row)
    assert list(analysis.pareto_frontier(u)) == [i for i in range(len(u)) if mask[i]]


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=20))
def test_pareto_single_party_keeps_the_maxima(values):
    u = np.array(values)[:, None]
    assert list(analysis.pareto_mask(u)) == [v == max(values) for v in values]


@given(utility_grids, st.data())
def test_nash_point_maximises_the_product(rows, data):
    u = np.array(rows, dtype=float) / 5.0
    k = u.shape[1]
    reserved = np.array(data.draw(st.lists(st.integers(0, 5), min_size=k, max_size=k)), dtype=float) / 5.0
    best = analysis.nash_point(u, reserved)
    products = [math.prod(row - reserved) if np.all(row >= reserved) else -1.0 for row in u]
    if max(products) <= 0:
        assert best is None
    else:
        assert best is not None
        assert products[best] == max(products)
        assert best == products.index(max(products))  # ties: the lowest index


@given(utility_grids, st.data())
def test_kalai_zopa_and_welfare(rows, data):
    u = np.array(rows, dtype=float) / 5.0
    k = u.shape[1]
    reserved = np.array(data.draw(st.lists(st.integers(0, 4), min_size=k, max_size=k)), dtype=float) / 5.0
    zone = analysis.zopa(u, reserved)
    assert list(zone) == [i for i, row in enumerate(u) if np.all(row >= reserved)]
    welfare = analysis.max_welfare_point(u)
    assert u[welfare].sum() == u.sum(axis=1).max()
    kalai = analysis.kalai_point(u, reserved)
    positive = [i for i, row in enumerate(u) if np.all(row > reserved)]
    if not positive:
        assert kalai is None
        return
    assert kalai in positive
    ideal = (u[positive] - reserved).max(axis=0)
    worst = [float(np.min((u[i] - reserved) / ideal)) for i in positive]
    assert float(np.min((u[kalai] - reserved) / ideal)) == max(worst)


def test_distance_and_opposition():
    u = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert analysis.distance(u, 0, 1) == pytest.approx(math.sqrt(2))
    assert analysis.opposition(u) == pytest.approx(math.sqrt(0.5) / math.sqrt(2))
    assert analysis.opposition(np.array([[1.0, 1.0], [0.0, 0.0]])) == 0.0
    assert analysis.opposition(np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(1 / math.sqrt(2))
    assert analysis.opposition(np.array([[0.3, 0.2], [0.3, 0.9]])) == 0.0  # a flat party is satisfied


@settings(max_examples=30)
@given(st.integers(min_value=2, max_value=3), st.integers(min_value=0, max_value=2**32 - 1))
def test_pareto_on_continuous_random_utilities(k, seed):
    u = np.random.default_rng(seed).random((60, k))
    mask = analysis.pareto_mask(u)
    brute = [not any(_dominates(o, r) for o in u) for r in u]
    assert list(mask) == brute


def test_two_party_frontier_scales():
    u = np.random.default_rng(7).random((200_000, 2))
    frontier = analysis.pareto_frontier(u)
    # every frontier point beats every other frontier point on one side
    pts = u[frontier]
    order = np.argsort(pts[:, 0])
    assert np.all(np.diff(pts[order, 1]) < 0)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: analysis.pareto_mask(np.zeros((0, 2))), "u:"),
        (lambda: analysis.pareto_mask(np.zeros(3)), "u:"),
        (lambda: analysis.pareto_mask(np.array([[np.nan, 1.0]])), "u:"),
        (lambda: analysis.nash_point(np.zeros((2, 2)), [0.0]), "reserved:"),
        (lambda: analysis.zopa(np.zeros((2, 2)), [0.0, np.inf]), "reserved:"),
        (lambda: analysis.distance(np.zeros((2, 2)), 0, 2), "j:"),
        (lambda: analysis.distance(np.zeros((2, 2)), -1, 0), "i:"),
    ],
)
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ConfigurationError, match=field):
        call()


def test_brute_force_helper_is_sound():
    assert _dominates((1, 1), (1, 0))
    assert not _dominates((1, 1), (1, 1))
    assert not any(
        _dominates(a, b) and _dominates(b, a) for a, b in itertools.product([(0, 1), (1, 0)], repeat=2)
    )
