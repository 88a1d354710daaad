"""Exact number checks: amounts, percentages, dates and units; any change is caught."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from backchannel.language.numbers import compare_numbers, extract_quantities

UNITS = [
    "%",
    " percent",
    " days",
    " weeks",
    " months",
    " years",
    " tonnes",
    " km",
    " prisoners",
    " centrifuges",
]
CURRENCIES = ["$", "USD ", "EUR ", "€"]

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(999999), places=2, allow_nan=False)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, list[Decimal]]:
    values = draw(st.lists(amounts, min_size=1, max_size=4))
    parts = []
    for value in values:
        if draw(st.booleans()):
            parts.append(f"{draw(st.sampled_from(CURRENCIES))}{_fmt(value)}")
        else:
            parts.append(f"{_fmt(value)}{draw(st.sampled_from(UNITS))}")
    words = ["We offer", "and", "within", "plus", "against"]
    text = " ".join(f"{words[i % len(words)]} {p}" for i, p in enumerate(parts)) + "."
    return text, values


def test_examples() -> None:
    assert [str(q) for q in extract_quantities("Cap enrichment at 3.67% for 30 days.")] == [
        "3.67 %",
        "30 day",
    ]
    same = compare_numbers("Cap enrichment at 3.67% for 30 days.", "A cap of 3.67 percent for thirty days.")
    assert same
    assert same.differences() == []
    changed = compare_numbers("Cap enrichment at 3.67% for 30 days.", "A cap of 3.6% for 30 days.")
    assert not changed
    assert changed.differences() == ["removed 3.67 % ('3.67%')", "added 3.6 % ('3.6%')"]
    assert changed.to_dict()["same"] is False


def test_equivalent_spellings() -> None:
    assert compare_numbers("USD 6 billion in escrow", "$6bn in escrow")
    assert compare_numbers("by 1 March 2027", "by March 1, 2027")
    assert compare_numbers("by 2027-03-01", "by 1 March 2027")
    assert compare_numbers("twenty-five troops and two hundred tonnes", "25 troops and 200 tonnes")
    assert compare_numbers("1,500 km", "1500 km")
    assert not compare_numbers("30 days", "30 weeks")  # the unit matters
    assert not compare_numbers("by 1 March", "by 2 March")
    assert not compare_numbers("$6bn", "EUR 6 billion")
    assert compare_numbers("this one and no one", "this proposal")  # "one" alone is not a number


@given(texts())
def test_the_same_numbers_pass(case: tuple[str, list[Decimal]]) -> None:
    text, values = case
    assert len(extract_quantities(text)) == len(values)
    assert compare_numbers(text, text.replace("We offer", "We would be glad to offer"))


@given(texts(), st.data())
def test_any_changed_number_is_caught(case: tuple[str, list[Decimal]], data: st.DataObject) -> None:
    text, values = case
    i = data.draw(st.integers(0, len(values) - 1))
    old = _fmt(values[i])
    new_value = data.draw(amounts.filter(lambda v: v.normalize() != values[i].normalize()))
    at = text.index(old, sum(len(_fmt(v)) for v in values[:i]) and 0)
    # replace the i-th occurrence of the number exactly
    positions = []
    start = 0
    for v in values:
        pos = text.index(_fmt(v), start)
        positions.append(pos)
        start = pos + len(_fmt(v))
    at = positions[i]
    changed = text[:at] + _fmt(new_value) + text[at + len(old) :]
    check = compare_numbers(text, changed)
    assert not check
    assert check.removed
    assert check.added


@given(texts(), st.data())
def test_a_dropped_number_is_caught(case: tuple[str, list[Decimal]], data: st.DataObject) -> None:
    text, values = case
    i = data.draw(st.integers(0, len(values) - 1))
    shorter = text.replace(_fmt(values[i]), "some", 1)
    check = compare_numbers(text, shorter)
    assert not check
    assert check.removed
