"""Exact checks of the numbers in a text: amounts, percentages, dates and quantities with units.

What it does: finds every number in a text (digits, with thousands separators
and decimals, or English number words up to the millions: "thirty",
"twenty-five", "two hundred"), with its scale ("6 billion", "$6bn"), its
currency ("USD", "$", "EUR", "€") or unit ("%", "percent", "days", "tonnes"),
and every date ("1 March 2027", "March 1, 2027", "2027-03-01"), and reduces
each to a canonical :class:`Quantity` (exact :class:`~decimal.Decimal` value,
normalised unit). :func:`compare_numbers` then lists what a reframing dropped,
added or changed. Different spellings of the same quantity are equal ("3.67%"
= "3.67 percent", "30 days" = "thirty days", "$6bn" = "USD 6 billion").

What it does not do: arithmetic on the text ("half" is not 50%), unit
conversion (30 days is not one month), or relative dates ("next Friday").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["NumberCheck", "Quantity", "compare_numbers", "extract_quantities"]

_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        1,
    )
} | {
    m[:3]: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_SMALL = {
    w: i
    for i, w in enumerate(
        [
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
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2)
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SHORT_SCALES = {"k": 1_000, "m": 10**6, "mn": 10**6, "bn": 10**9, "b": 10**9, "tn": 10**12}
_CURRENCIES = {"$": "USD", "usd": "USD", "dollars": "USD", "dollar": "USD", "€": "EUR", "eur": "EUR"}
_CURRENCIES |= {"euros": "EUR", "euro": "EUR", "£": "GBP", "gbp": "GBP", "pounds": "GBP", "chf": "CHF"}
_UNITS = {
    "%": "%",
    "percent": "%",
    "per_cent": "%",
    "percentage_points": "pp",
    "points": "pp",
}
for _base in [
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "decade",
    "tonne",
    "ton",
    "kilogram",
    "kg",
    "gram",
    "km",
    "kilometre",
    "kilometer",
    "mile",
    "metre",
    "meter",
    "barrel",
    "megawatt",
    "mw",
    "gigawatt",
    "gw",
    "centrifuge",
    "cascade",
    "troop",
    "soldier",
    "prisoner",
    "detainee",
    "hostage",
    "site",
    "inspector",
    "observer",
    "step",
    "phase",
    "round",
    "session",
]:
    _UNITS[_base] = _base
    _UNITS[_base + "s"] = _base
_UNITS |= {
    "tons": "tonne",
    "ton": "tonne",
    "tonnes": "tonne",
    "kgs": "kg",
    "metres": "metre",
    "meters": "metre",
}

_UNIT_WORDS = "|".join(
    re.escape(u).replace("_", r"\s+") for u in sorted([*_UNITS, *_CURRENCIES], key=len, reverse=True)
)
_WORD_NUMBER = "|".join(sorted([*_SMALL, *_TENS, *_SCALES], key=len, reverse=True))
_DATE_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS) + r")\b\.?(?:,?\s+(\d{4}))?")
_DATE_MDY = re.compile(r"\b(" + "|".join(_MONTHS) + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMBER = re.compile(
    r"(?P<cur>[$€£]|\b(?:usd|eur|gbp|chf)\b)?\s*"
    r"(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+|(?:\b(?:" + _WORD_NUMBER + r")\b(?:[\s-]+(?:and\s+)?)?)+)"
    r"(?P<scale>\s*(?:hundred|thousand|million|billion|trillion)\b|(?:k|m|mn|bn|b|tn)\b)?"
    r"(?P<unit>\s*(?:%|(?:" + _UNIT_WORDS + r")\b))?",
)


@dataclass(frozen=True, slots=True, order=True)
class Quantity:
    """A number as it matters: its exact value and its unit.

    Attributes:
        value: The exact value (scale applied: "6 billion" -> 6000000000), or a
            date as ``YYYY-MM-DD`` (``----MM-DD`` when the year is not given).
        unit: The normalised unit or currency (``"%"``, ``"day"``, ``"USD"``,
            ``"date"``), or ``""`` for a bare number.
        text: How it was written (not part of equality).
    """

    value: str
    unit: str
    text: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What two quantities must share to be the same."""
        return self.value, self.unit

    def __str__(self) -> str:
        """``"3.67 %"``, ``"30 day"``, ``"2027-03-01 date"``."""
        return f"{self.value} {self.unit}".strip()


def _words_value(text: str) -> Decimal | None:
    """Words to a number: "twenty-five" -> 25, "two hundred" -> 200; None when not number words."""
    total, current = 0, 0
    parts = [p for p in re.split(r"[\s-]+", text.strip()) if p and p != "and"]
    if not parts:
        return None
    for part in parts:
        if part in _SMALL:
            current += _SMALL[part]
        elif part in _TENS:
            current += _TENS[part]
        elif part == "hundred":
            current = max(current, 1) * 100
        elif part in _SCALES:
            total += max(current, 1) * _SCALES[part]
            current = 0
        else:
            return None
    return Decimal(total + current)


def _value(raw: str) -> Decimal | None:
    raw = raw.strip()
    if raw[:1].isdigit() or raw.startswith("."):
        try:
            return Decimal(raw.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the regex admits only decimal digits
            return None
    return _words_value(raw)


def _canonical(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dates(text: str) -> tuple[list[Quantity], str]:
    """Every date in ``text``, and the text with the dates blanked out."""
    found: list[tuple[int, Quantity]] = []
    chars = list(text)
    for pattern, order in ((_DATE_ISO, "ymd"), (_DATE_DMY, "dmy"), (_DATE_MDY, "mdy")):
        for m in pattern.finditer("".join(chars)):
            groups = dict(zip(order, m.groups(), strict=True))
            month = int(groups["m"]) if groups["m"].isdigit() else _MONTHS[groups["m"]]
            year = groups["y"] or "----"
            found.append(
                (m.start(), Quantity(f"{year}-{month:02d}-{int(groups['d']):02d}", "date", m.group(0)))
            )
            chars[m.start() : m.end()] = " " * (m.end() - m.start())
    return [q for _, q in sorted(found, key=lambda f: f[0])], "".join(chars)


def extract_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` as a canonical quantity, in the order of the text (dates first).

    Args:
        text: Any text.

    Returns:
        The quantities.
    """
    lowered = text.lower().replace("per cent", "percent")
    dates, rest = _dates(lowered)
    found = list(dates)
    for m in _NUMBER.finditer(rest):
        value = _value(m.group("num"))
        if value is None or (value == 1 and not m.group("num")[:1].isdigit() and not m.group("unit")):
            continue  # "one" alone is a pronoun more often than a number ("this one", "no one")
        scale = (m.group("scale") or "").strip()
        value *= _SCALES.get(scale) or _SHORT_SCALES.get(scale, 1)
        unit_word = re.sub(r"\s+", "_", (m.group("unit") or "").strip())
        currency = _CURRENCIES.get((m.group("cur") or "").strip())
        unit = currency or _CURRENCIES.get(unit_word) or _UNITS.get(unit_word, "")
        found.append(Quantity(_canonical(value), unit, m.group(0).strip()))
    return found


@dataclass(frozen=True, slots=True)
class NumberCheck:
    """What a reframing did to the numbers of its original.

    Attributes:
        removed: Quantities of the original missing from the reframing.
        added: Quantities of the reframing missing from the original.
    """

    removed: tuple[Quantity, ...]
    added: tuple[Quantity, ...]

    def __bool__(self) -> bool:
        """True when the numbers are the same (nothing removed or added)."""
        return not self.removed and not self.added

    def differences(self) -> list[str]:
        """One line per difference: ``"3.67 % ('3.67%') -> missing"``."""
        lines = [f"removed {q} ({q.text!r})" for q in self.removed]
        return lines + [f"added {q} ({q.text!r})" for q in self.added]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "same": bool(self),
            "removed": [{"value": q.value, "unit": q.unit, "text": q.text} for q in self.removed],
            "added": [{"value": q.value, "unit": q.unit, "text": q.text} for q in self.added],
        }


def compare_numbers(original: str, reframed: str) -> NumberCheck:
    """Compare the numbers of two texts exactly, as multisets of (value, unit).

    Args:
        original: The original message.
        reframed: The reframed message.

    Returns:
        What was removed and added; truthy when nothing was.
    """
    before = extract_quantities(original)
    after = extract_quantities(reframed)
    lost = Counter(q.key for q in before) - Counter(q.key for q in after)
    gained = Counter(q.key for q in after) - Counter(q.key for q in before)
    return NumberCheck(_pick(before, lost), _pick(after, gained))


def _pick(quantities: list[Quantity], wanted: Counter[tuple[str, str]]) -> tuple[Quantity, ...]:
    left = Counter(wanted)
    out = []
    for q in quantities:
        if left[q.key] > 0:
            left[q.key] -= 1
            out.append(q)
    return tuple(out)
