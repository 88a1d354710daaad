from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backchannel.domain.agenda import Agenda, BooleanIssue, ChoiceIssue, DateIssue, NumberIssue, TextIssue
from backchannel.domain.errors import SchemaViolationError, Violation

DOHA = Agenda(
    version=1,
    issues=(
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        NumberIssue("stockpile_kg", "kg", 0, 10_000),
        ChoiceIssue("sanctions_relief", ("none", "tier-1", "tier-2", "full")),
        ChoiceIssue("inspection_regime", ("baseline", "enhanced", "additional-protocol")),
        BooleanIssue("snapback"),
        DateIssue("review_date", date(2026, 1, 1), date(2030, 12, 31)),
        TextIssue("notes", 200),
    ),
)


def rules(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.field, v.rule) for v in violations]


def test_a_fitting_proposal_has_no_violations() -> None:
    values = {
        "enrichment_cap_pct": 3.67,
        "stockpile_kg": {"value": 300, "unit": "kg"},
        "sanctions_relief": "tier-1",
        "inspection_regime": "additional-protocol",
        "snapback": True,
        "review_date": "2027-06-30",
        "notes": "phase one",
    }
    assert DOHA.check_values(values) == []
    assert DOHA.check_values(values, complete=True) == []
    DOHA.validate_values(values)
    assert DOHA.check_values({"snapback": False}) == []


def test_every_violation_is_reported_with_its_field_and_rule() -> None:
    values = {
        "enrichment_cap_pct": 95,
        "stockpile_kg": {"value": 300, "unit": "t"},
        "sanctions_relief": "total",
        "inspection_regime": 3,
        "snapback": "yes",
        "review_date": "2031-01-01",
        "notes": "x" * 201,
        "uranium_price": 1,
    }
    with pytest.raises(SchemaViolationError) as info:
        DOHA.validate_values(values)
    assert rules(list(info.value.violations)) == [
        ("enrichment_cap_pct", "maximum"),
        ("stockpile_kg", "unit"),
        ("sanctions_relief", "one_of"),
        ("inspection_regime", "one_of"),
        ("snapback", "type"),
        ("review_date", "maximum"),
        ("notes", "max_length"),
        ("uranium_price", "unknown_field"),
    ]
    assert "enrichment_cap_pct: 95 % is above the maximum 90" in str(info.value)
    assert "stockpile_kg: unit 't' does not match the agenda's 'kg'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (-1, "minimum"),
        (3.675, "step"),
        (True, "type"),
        ("3.67", "type"),
        (float("nan"), "type"),
        ({"value": 3.67}, "number_form"),
        ({"value": "x", "unit": "%"}, "type"),
        (None, "type"),
        ([], "type"),
    ],
)
def test_number_rules(value: object, rule: str) -> None:
    assert rules(DOHA.check_values({"enrichment_cap_pct": value})) == [("enrichment_cap_pct", rule)]  # type: ignore[dict-item]


def test_step_grid_is_exact_in_decimal() -> None:
    issue = NumberIssue("x", "%", 0.1, 1, 0.1)
    assert issue.check(0.3) == []  # 0.1 + 0.1 + 0.1 is not 0.3 in binary, but is on the grid
    assert issue.check(0.35) != []


@pytest.mark.parametrize(
    ("value", "rule"), [("2025-12-31", "minimum"), ("2026-02-30", "type"), ("soon", "type"), (5, "type")]
)
def test_date_rules(value: object, rule: str) -> None:
    assert rules(DOHA.check_values({"review_date": value})) == [("review_date", rule)]  # type: ignore[dict-item]


def test_text_rule_type() -> None:
    assert rules(DOHA.check_values({"notes": 5})) == [("notes", "type")]
    assert "got a number" in DOHA.check_values({"notes": 5})[0].message


def test_complete_proposals_name_every_issue_and_empty_ones_are_refused() -> None:
    missing = DOHA.check_values({"snapback": True}, complete=True)
    assert ("enrichment_cap_pct", "required") in rules(missing)
    assert len(missing) == 6
    assert rules(DOHA.check_values({})) == [("values", "empty")]
    assert rules(DOHA.check_values(["not", "an", "object"])) == [("values", "type")]
    assert "got a list" in DOHA.check_values([1])[0].message


def test_open_dates_and_lookup() -> None:
    issue = DateIssue("d")
    assert issue.check("1900-01-01") == []
    assert DOHA.issue("snapback") == BooleanIssue("snapback")
    assert DOHA.issue("nope") is None


def test_round_trip_through_json_form() -> None:
    data = DOHA.to_dict()
    assert Agenda.from_dict(data) == DOHA
    assert data["issues"][0] == {  # type: ignore[index]
        "name": "enrichment_cap_pct",
        "type": "number",
        "unit": "%",
        "min": 0,
        "max": 90,
        "step": 0.01,
    }
    open_date = Agenda(1, (DateIssue("d"), NumberIssue("n", "kg", 0, 1)))
    assert Agenda.from_dict(open_date.to_dict()) == open_date


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ([], "agenda", "form"),
        ({"version": 1}, "agenda", "form"),
        ({"version": 1, "issues": "x"}, "issues", "type"),
        ({"version": "1", "issues": [{"name": "b", "type": "boolean"}]}, "version", "type"),
        ({"version": 1, "issues": [5]}, "issues.0", "type"),
        ({"version": 1, "issues": [{"name": "b", "type": "mystery"}]}, "issues.0.type", "one_of"),
        ({"version": 1, "issues": [{"name": "b", "type": "boolean", "x": 1}]}, "issues.0", "unknown_field"),
        ({"version": 1, "issues": [{"type": "boolean"}]}, "issues.0", "required"),
        ({"version": 1, "issues": [{"name": 5, "type": "boolean"}]}, "issues.0.name", "type"),
        (
            {"version": 1, "issues": [{"name": "n", "type": "number", "unit": "%", "min": "0", "max": 1}]},
            "issues.0.min",
            "type",
        ),
        (
            {
                "version": 1,
                "issues": [{"name": "n", "type": "number", "unit": "%", "min": 0, "max": 1, "step": "x"}],
            },
            "issues.0.step",
            "type",
        ),
        (
            {"version": 1, "issues": [{"name": "c", "type": "one_of", "options": "ab"}]},
            "issues.0.options",
            "type",
        ),
        (
            {"version": 1, "issues": [{"name": "d", "type": "date", "earliest": "x"}]},
            "issues.0.earliest",
            "type",
        ),
        (
            {"version": 1, "issues": [{"name": "t", "type": "text", "max_length": "9"}]},
            "issues.0.max_length",
            "type",
        ),
        ({"version": 0, "issues": [{"name": "b", "type": "boolean"}]}, "version", "minimum"),
    ],
)
def test_from_dict_names_the_bad_field(data: object, field: str, rule: str) -> None:
    with pytest.raises(SchemaViolationError) as info:
        Agenda.from_dict(data)  # type: ignore[arg-type]
    assert (field, rule) in rules(list(info.value.violations))


def test_from_dict_reports_every_bad_issue() -> None:
    data = {"version": 1, "issues": [{"name": "a", "type": "nope"}, {"name": "b", "type": "boolean"}, 7]}
    with pytest.raises(SchemaViolationError) as info:
        Agenda.from_dict(data)
    assert rules(list(info.value.violations)) == [("issues.0.type", "one_of"), ("issues.2", "type")]


@pytest.mark.parametrize(
    ("issues", "field", "rule"),
    [
        ((), "issues", "empty"),
        ((BooleanIssue("Bad"),), "issues.0.name", "pattern"),
        ((BooleanIssue("a"), BooleanIssue("a")), "issues.1.name", "unique"),
        ((NumberIssue("n", "", 0, 1),), "issues.0.unit", "length"),
        ((NumberIssue("n", "%", 2, 1),), "issues.0.min", "maximum"),
        ((NumberIssue("n", "%", 0, float("inf")),), "issues.0.min", "type"),
        ((NumberIssue("n", "%", 0, 1, 0),), "issues.0.step", "minimum"),
        ((ChoiceIssue("c", ("only",)),), "issues.0.options", "min_items"),
        ((ChoiceIssue("c", ("A", "b")),), "issues.0.options", "pattern"),
        ((ChoiceIssue("c", ("a", "a")),), "issues.0.options", "unique"),
        ((DateIssue("d", date(2030, 1, 1), date(2020, 1, 1)),), "issues.0.earliest", "maximum"),
        ((TextIssue("t", 0),), "issues.0.max_length", "maximum"),
        (tuple(BooleanIssue(f"b{i}") for i in range(201)), "issues", "max_items"),
    ],
)
def test_agenda_rules(issues: tuple[object, ...], field: str, rule: str) -> None:
    with pytest.raises(SchemaViolationError) as info:
        Agenda(1, issues)  # type: ignore[arg-type]
    assert (field, rule) in rules(list(info.value.violations))


def test_schema_violation_error_needs_a_violation() -> None:
    with pytest.raises(ValueError, match="at least one violation"):
        SchemaViolationError([])


@given(st.floats(min_value=0, max_value=90, allow_nan=False))
def test_numbers_in_range_without_step_always_fit(value: float) -> None:
    assert NumberIssue("x", "%", 0, 90).check(value) == []


def test_type_errors_name_what_was_given() -> None:
    messages = [DOHA.check_values({"notes": value})[0].message for value in ({}, None, True, [1])]
    assert messages == [
        "notes: expected text, got an object",
        "notes: expected text, got null",
        "notes: expected text, got a boolean",
        "notes: expected text, got a list",
    ]
