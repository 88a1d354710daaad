"""The predicate language: parsing (every error names its column and what was expected) and evaluation."""

from datetime import UTC, datetime, timedelta

import pytest

from backchannel.domain.agreements.predicates import (
    EPOCH,
    Comparator,
    Predicate,
    PredicateProgress,
    PredicateSyntaxError,
    evaluate,
    parse_predicate,
    window_index,
    window_start,
)

DAY = timedelta(days=1)
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def test_a_predicate_parses_into_its_parts() -> None:
    p = parse_predicate("iaea.enrichment_pct <= 3.67 sustained for 30 days")
    assert p == Predicate("iaea.enrichment_pct", Comparator.LE, 3.67, "3.67", None, 30, "day")
    assert p.duration == 30 * DAY
    assert str(p) == p.text == "iaea.enrichment_pct <= 3.67 sustained for 30 days"


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("a   <  -1   sustained   for 1   second", "a < -1 sustained for 1 second"),
        ("a.b_c == 0.50 at fordow sustained for 1 hours", "a.b_c == 0.50 at fordow sustained for 1 hour"),
        ("x >= 10 sustained for 2 minute", "x >= 10 sustained for 2 minutes"),
        ("x > 0 at s-1.b sustained for 999999 days", "x > 0 at s-1.b sustained for 999999 days"),
    ],
)
def test_the_normal_form_joins_tokens_with_single_spaces(text: str, normal: str) -> None:
    assert parse_predicate(text).text == normal
    assert parse_predicate(normal).text == normal


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("", 1, "a predicate of 1 to 200"),
        ("x" * 201, 1, "a predicate of 1 to 200"),
        (" a < 1 sustained for 1 day", 1, "no space before"),
        ("a < 1 sustained for 1 day ", 26, "no space before"),
        ("Iaea.x < 1 sustained for 1 day", 1, "a metric name"),
        ("a is 1 sustained for 1 day", 3, "a comparator"),
        ("a =< 1 sustained for 1 day", 3, "a comparator"),
        ("a < 1e3 sustained for 1 day", 5, "a number like 3.67"),
        ("a < 01 sustained for 1 day", 5, "a number like 3.67"),
        ("a < " + "1" * 33 + " sustained for 1 day", 5, "at most 32 characters"),
        ("a < 1 for 1 day", 7, "'at' or 'sustained'"),
        ("a < 1 at Natanz sustained for 1 day", 10, "a site"),
        ("a < 1 at n held for 1 day", 12, "'sustained'"),
        ("a < 1 sustained during 1 day", 17, "'for'"),
        ("a < 1 sustained for 0 days", 21, "a whole number from 1"),
        ("a < 1 sustained for 1234567 days", 21, "a whole number from 1"),
        ("a < 1 sustained for 3 weeks", 23, "a unit"),
        ("a < 1 sustained for 3 days please", 28, "the end of the predicate"),
        ("a < 1 sustained for", 20, "a whole number"),
    ],
)
def test_malformed_predicates_name_the_column_and_what_was_expected(
    text: str, column: int, expected: str
) -> None:
    with pytest.raises(PredicateSyntaxError) as caught:
        parse_predicate(text)
    assert caught.value.column == column, str(caught.value)
    assert expected in caught.value.expected
    assert f"at column {column}: expected" in str(caught.value)


def test_the_end_of_the_text_is_named_as_such() -> None:
    with pytest.raises(PredicateSyntaxError, match="got the end of the text"):
        parse_predicate("a < 1 sustained for")


@pytest.mark.parametrize(
    ("op", "value", "holds"),
    [("<", 1, False), ("<", 0.5, True), ("<=", 1, True), ("==", 1, True), ("==", 1.5, False),
     (">=", 1, True), (">", 1, False), (">", 2, True)],
)  # fmt: skip
def test_comparators(op: str, value: float, holds: bool) -> None:
    assert Comparator(op).holds(value, 1) is holds


def test_windows_are_epoch_aligned() -> None:
    assert window_index(EPOCH, DAY) == 0
    assert window_index(NOW, DAY) == (NOW - EPOCH).days
    assert window_start(window_index(NOW, DAY), DAY) == datetime(2026, 3, 31, tzinfo=UTC)
    assert window_index(EPOCH - timedelta(microseconds=1), DAY) == -1


def lookup(values: dict[int, list[tuple[str, float]]]):  # type: ignore[no-untyped-def]
    return lambda index: values.get(index, [])


TODAY = window_index(NOW, DAY)
P30 = parse_predicate("m <= 3.67 sustained for 30 days")


def days(
    first: int, last: int, value: float = 3.6, site: str = "natanz"
) -> dict[int, list[tuple[str, float]]]:
    return {TODAY - back: [(site, value)] for back in range(first, last + 1)}


def test_nothing_counted_holds_for_nothing() -> None:
    progress = evaluate(P30, DAY, lookup({}), NOW)
    assert (progress.held, progress.required, progress.holds) == (timedelta(0), 30 * DAY, False)
    assert progress.describe() == "predicate `m <= 3.67 sustained for 30 days` held 0 of 30 days"


def test_an_empty_current_window_is_not_over_yet() -> None:
    progress = evaluate(P30, DAY, lookup(days(1, 12)), NOW)
    assert (progress.held_units, progress.required_units, progress.holds) == (12, 30, False)
    assert progress.describe().endswith("held 12 of 30 days")


def test_a_good_current_window_counts() -> None:
    progress = evaluate(P30, DAY, lookup(days(0, 29)), NOW)
    assert (progress.held_units, progress.holds) == (30, True)


def test_thirty_whole_days_before_today_hold() -> None:
    assert evaluate(P30, DAY, lookup(days(1, 30)), NOW).holds
    assert evaluate(P30, DAY, lookup(days(1, 40)), NOW).held_units == 30  # never more than required


def test_a_gap_breaks_the_run() -> None:
    counted = days(1, 5) | days(7, 40)
    assert evaluate(P30, DAY, lookup(counted), NOW).held_units == 5


def test_a_failing_value_breaks_the_run_and_a_failing_today_is_zero() -> None:
    counted = days(1, 40)
    counted[TODAY - 3] = [("natanz", 3.6), ("fordow", 3.9)]
    assert evaluate(P30, DAY, lookup(counted), NOW).held_units == 2
    counted[TODAY] = [("natanz", 4.0)]
    assert evaluate(P30, DAY, lookup(counted), NOW).held_units == 0


def test_a_site_predicate_looks_at_its_site_only() -> None:
    at_fordow = parse_predicate("m <= 3.67 at fordow sustained for 3 days")
    counted = days(1, 3, 3.6, "fordow")
    counted[TODAY - 2] = [("fordow", 3.6), ("natanz", 60.0)]
    assert evaluate(at_fordow, DAY, lookup(counted), NOW).holds
    assert not evaluate(parse_predicate("m <= 3.67 sustained for 3 days"), DAY, lookup(counted), NOW).holds


def test_durations_shorter_than_the_window_need_one_window() -> None:
    p = parse_predicate("m <= 3.67 sustained for 30 seconds")
    progress = evaluate(p, DAY, lookup(days(1, 1)), NOW)
    assert progress.holds
    assert progress.required == DAY
    assert progress.describe().endswith("held 86400 of 86400 seconds")


def test_second_windows_for_a_demo() -> None:
    p = parse_predicate("m <= 3.67 sustained for 30 seconds")
    second = timedelta(seconds=1)
    now_index = window_index(NOW, second)
    counted = {now_index - back: [("s", 1.0)] for back in range(1, 31)}
    assert evaluate(p, second, lookup(counted), NOW).holds
    assert evaluate(p, timedelta(seconds=10), lookup({}), NOW).required == timedelta(seconds=30)


def test_progress_text_singular_and_notes() -> None:
    one = PredicateProgress("m < 1 sustained for 1 day", timedelta(0), DAY, False, "day")
    assert one.describe() == "predicate `m < 1 sustained for 1 day` held 0 of 1 day"
    noted = PredicateProgress(
        "m < 1 sustained for 1 day", timedelta(0), DAY, False, "day", "metric m is not defined"
    )
    assert noted.describe() == "predicate `m < 1 sustained for 1 day`: metric m is not defined"
