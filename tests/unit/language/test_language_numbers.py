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
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
]
TENS = {
    20: "twenty",
    30: "thirty",
    40: "forty",
    50: "fifty",
    60: "sixty",
    70: "seventy",
    80: "eighty",
    90: "ninety",
}


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _words(n: int) -> str:
    if n < 16:
        return SMALL[n]
    if n < 20:
        return {16: "sixteen", 17: "seventeen", 18: "eighteen", 19: "nineteen"}[n]
    tens, ones = divmod(n, 10)
    return TENS[tens * 10] + ("" if ones == 0 else f"-{SMALL[ones]}")


# A part of a text: (kind, value); each kind has its own value strategy and rendering.
VALUES = {
    "unit": amounts,
    "currency": amounts,
    "thousands": st.integers(1_000, 9_999_999),
    "date": st.tuples(st.integers(1, 28), st.integers(0, 9), st.integers(2000, 2099)),
    "words": st.integers(2, 99),
}


def _render(kind: str, value: object, style: str) -> str:
    if kind == "unit":
        return f"{_fmt(value)}{style}"  # type: ignore[arg-type]
    if kind == "currency":
        return f"{style}{_fmt(value)}"  # type: ignore[arg-type]
    if kind == "thousands":
        return f"{value:,} {style.strip() or 'tonnes'}"
    if kind == "date":
        day, month, year = value  # type: ignore[misc]
        return f"{day} {MONTHS[month]} {year}"
    return f"{_words(value)} {style.strip() or 'days'}"  # type: ignore[arg-type]


@st.composite
def texts(draw: st.DrawFn) -> list[tuple[str, object, str]]:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(sorted(VALUES)))
        style = draw(
            st.sampled_from(CURRENCIES if kind == "currency" else UNITS[2:] if kind == "words" else UNITS)
        )
        parts.append((kind, draw(VALUES[kind]), style))
    return parts


def _text(parts: list[tuple[str, object, str]]) -> str:
    words = ["We offer", "and", "within", "plus", "by"]
    return " ".join(f"{words[i % len(words)]} {_render(*p)}" for i, p in enumerate(parts)) + "."


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
    # number words inside other words are not numbers
    assert extract_quantities("Often, attention to inconsistency and someone's content is eighteenth.") == []


@given(texts())
def test_the_same_numbers_pass(parts: list[tuple[str, object, str]]) -> None:
    text = _text(parts)
    assert len(extract_quantities(text)) == len(parts)
    assert compare_numbers(text, text.replace("We offer", "We would be glad to offer"))


@given(texts(), st.data())
def test_any_changed_number_is_caught(parts: list[tuple[str, object, str]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(parts) - 1))
    kind, value, style = parts[i]
    new = data.draw(VALUES[kind].filter(lambda v: v != value))
    changed = [*parts[:i], (kind, new, style), *parts[i + 1 :]]
    check = compare_numbers(_text(parts), _text(changed))
    assert not check, (_text(parts), _text(changed))
    assert check.removed
    assert check.added
    assert check.differences()


@given(texts(), st.data())
def test_a_dropped_number_is_caught(parts: list[tuple[str, object, str]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(parts) - 1))
    check = compare_numbers(_text(parts), _text([*parts[:i], *parts[i + 1 :]]))
    assert not check
    assert check.removed
    assert not check.added
