"""The quorum rule's pure functions (properties live in tests/property/test_quorum_props.py)."""

import pytest

from backchannel.domain.agreements.quorum import (
    ToleranceKind,
    agree,
    agreeing_cluster,
    disagreeing,
    low_median,
)

ABS, REL = ToleranceKind.ABSOLUTE, ToleranceKind.RELATIVE


def test_absolute_and_relative_agreement() -> None:
    assert agree(3.6, 3.65, 0.1, ABS)
    assert not agree(3.6, 3.8, 0.1, ABS)
    assert agree(100, 104, 0.05, REL)  # 4 <= 0.05 * 104
    assert not agree(100, 110, 0.05, REL)
    assert agree(-2, -2, 0, REL)


def test_the_largest_agreeing_run_wins() -> None:
    values = [3.6, 9.0, 3.62, 3.65, 9.05]
    assert agreeing_cluster(values, 0.1, ABS) == (0, 2, 3)
    assert agreeing_cluster([], 0.1, ABS) == ()
    assert agreeing_cluster([5.0], 0, ABS) == (0,)


def test_ties_go_to_the_smaller_spread_then_the_lower_values() -> None:
    assert agreeing_cluster([1.0, 1.1, 5.0, 5.05], 0.1, ABS) == (2, 3)  # spread 0.05 beats 0.1
    assert agreeing_cluster([5.0, 5.05, 1.0, 1.05], 0.1, ABS) == (2, 3)  # equal spreads: lower values
    assert agreeing_cluster([3.6, 3.7], 0.1, ABS) == (0, 1)  # decimal: 3.7 - 3.6 is 0.1 as written


def test_low_median() -> None:
    assert low_median([3.0, 1.0, 2.0]) == 2.0
    assert low_median([4.0, 1.0, 3.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="median of no values"):
        low_median([])


def test_disagreeing_names_positions() -> None:
    assert disagreeing(3.6, [3.65, 4.0, 3.0, 3.7], 0.1, ABS) == (1, 2)
