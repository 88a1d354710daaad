"""Properties of the quorum rule (``domain/agreements/quorum.py``) against brute force."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.domain.agreements.quorum import (
    ToleranceKind,
    agree,
    agreeing_cluster,
    disagreeing,
    low_median,
)

VALUES = st.lists(st.integers(-500, 500).map(lambda n: n / 100), max_size=7)
POSITIVE = st.lists(st.integers(1, 1000).map(lambda n: n / 100), max_size=7)
ABSOLUTE = st.integers(0, 100).map(lambda n: n / 100)
RELATIVE = st.integers(0, 100).map(lambda n: n / 100)  # 0..1


def pairwise(values: list[float], amount: float, kind: ToleranceKind) -> bool:
    return all(agree(a, b, amount, kind) for a, b in combinations(values, 2))


def largest_agreeing_subset(values: list[float], amount: float, kind: ToleranceKind) -> int:
    for size in range(len(values), 0, -1):
        if any(pairwise(list(s), amount, kind) for s in combinations(values, size)):
            return size
    return 0


@settings(max_examples=300)
@given(VALUES, ABSOLUTE)
def test_absolute_cluster_is_the_largest_agreeing_subset(values: list[float], amount: float) -> None:
    cluster = agreeing_cluster(values, amount, ToleranceKind.ABSOLUTE)
    chosen = [values[i] for i in cluster]
    assert pairwise(chosen, amount, ToleranceKind.ABSOLUTE)
    assert len(cluster) == largest_agreeing_subset(values, amount, ToleranceKind.ABSOLUTE)
    assert len(set(cluster)) == len(cluster)
    assert bool(cluster) == bool(values)


@settings(max_examples=300)
@given(POSITIVE, RELATIVE)
def test_relative_cluster_is_the_largest_agreeing_subset_for_one_sign(
    values: list[float], amount: float
) -> None:
    cluster = agreeing_cluster(values, amount, ToleranceKind.RELATIVE)
    chosen = [values[i] for i in cluster]
    assert pairwise(chosen, amount, ToleranceKind.RELATIVE)
    assert len(cluster) == largest_agreeing_subset(values, amount, ToleranceKind.RELATIVE)


@given(VALUES, RELATIVE)
def test_relative_cluster_always_agrees_pairwise(values: list[float], amount: float) -> None:
    chosen = [values[i] for i in agreeing_cluster(values, amount, ToleranceKind.RELATIVE)]
    assert pairwise(chosen, amount, ToleranceKind.RELATIVE)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=9))
def test_the_low_median_is_an_attested_middle_value(values: list[float]) -> None:
    median = low_median(values)
    assert median in values
    assert sum(v < median for v in values) <= (len(values) - 1) // 2
    assert sum(v > median for v in values) <= len(values) // 2


@given(VALUES, st.integers(-500, 500).map(lambda n: n / 100), ABSOLUTE)
def test_disagreeing_is_exactly_the_values_outside_tolerance(
    values: list[float], new: float, amount: float
) -> None:
    out = disagreeing(new, values, amount, ToleranceKind.ABSOLUTE)
    assert set(out) == {i for i, v in enumerate(values) if not agree(new, v, amount, ToleranceKind.ABSOLUTE)}


@given(VALUES, ABSOLUTE)
def test_the_cluster_does_not_depend_on_the_order_of_filing(values: list[float], amount: float) -> None:
    forward = sorted(values[i] for i in agreeing_cluster(values, amount, ToleranceKind.ABSOLUTE))
    backward = list(reversed(values))
    assert forward == sorted(backward[i] for i in agreeing_cluster(backward, amount, ToleranceKind.ABSOLUTE))
