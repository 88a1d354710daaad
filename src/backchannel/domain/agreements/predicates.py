r"""Attestation predicates: a small, strict language, and its evaluation over counted observations.

Grammar (tokens separated by one or more spaces; nothing before the first or
after the last)::

    predicate  := metric comparator number [ "at" site ] "sustained" "for" count unit
    metric     := segment ( "." segment )*          segment := [a-z][a-z0-9_]{0,31}
    comparator := "<" | "<=" | "==" | ">=" | ">"
    number     := -?(0|[1-9][0-9]*)(\\.[0-9]+)?    (no exponent, at most 32 characters)
    site       := [a-z0-9][a-z0-9._-]{0,63}
    count      := [1-9][0-9]{0,5}
    unit       := second | seconds | minute | minutes | hour | hours | day | days

for example ``iaea.enrichment_pct <= 3.67 sustained for 30 days`` or
``iaea.enrichment_pct <= 3.67 at fordow sustained for 12 hours``. The number
is in the metric's unit. :func:`parse_predicate` refuses anything else with a
:class:`PredicateSyntaxError` naming the 1-based column and what was expected
there. The normal form (:meth:`Predicate.text`) joins the tokens with single
spaces.

**Evaluation** (:func:`evaluate`) is over *counted* observations only: the
values the quorum rule derived (:mod:`~backchannel.domain.agreements.quorum`),
one per (site, observation window). Observation windows are the metric's:
consecutive intervals of ``w`` seconds aligned on the Unix epoch (``w =
86400`` is the UTC day). At decision time ``now``, with ``c`` the window
holding ``now``:

- a window is **good** when it holds at least one counted value (of the
  predicate's site, if it names one) and every one of them satisfies the
  comparison; **bad** when one of them does not; **empty** otherwise;
- the run starts at ``c`` if ``c`` is good, at ``c - 1`` if ``c`` is empty
  (the current window is not over yet), and is 0 if ``c`` is bad;
- the predicate has **held** for the number of consecutive good windows
  counted back from there (at most the number it needs), times ``w``;
- it **holds** when it needs no more: ``ceil(duration / w)`` good windows in a
  row. So coverage means at least one counted value in every observation
  window of the trailing period, and a single failing value anywhere in it
  breaks the run.

This module does no I/O and reads no clock: ``now`` is given.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from backchannel.errors import DomainError

__all__ = [
    "EPOCH",
    "MAX_PREDICATE_LENGTH",
    "Comparator",
    "Predicate",
    "PredicateProgress",
    "PredicateSyntaxError",
    "evaluate",
    "parse_predicate",
    "window_index",
    "window_start",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Observation windows are aligned on the Unix epoch."""
MAX_PREDICATE_LENGTH = 200
"""The longest predicate text."""
_MAX_COUNT = 999_999

_METRIC = re.compile(r"[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31})*")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_SITE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_COUNT = re.compile(r"[1-9][0-9]{0,5}")
_TOKEN = re.compile(r"[^ ]+")
_UNITS: dict[str, timedelta] = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


class PredicateSyntaxError(DomainError):
    """A predicate does not follow the grammar.

    Attributes:
        column: The 1-based column where it goes wrong.
        expected: What was expected there.
    """

    def __init__(self, text: str, column: int, expected: str, found: str | None) -> None:
        """Create the error; the message names the column, what was expected and what was found."""
        got = "the end of the text" if found is None else repr(found[:40])
        super().__init__(f"predicate {text[:80]!r}: at column {column}: expected {expected}, got {got}")
        self.column = column
        self.expected = expected


class Comparator(StrEnum):
    """How a counted value is compared with the predicate's number."""

    LT = "<"
    LE = "<="
    EQ = "=="
    GE = ">="
    GT = ">"

    def holds(self, value: float, bound: float) -> bool:
        """True if ``value <op> bound``."""
        return _COMPARE[self](value, bound)


_COMPARE: dict[Comparator, Callable[[float, float], bool]] = {
    Comparator.LT: operator.lt,
    Comparator.LE: operator.le,
    Comparator.EQ: operator.eq,
    Comparator.GE: operator.ge,
    Comparator.GT: operator.gt,
}


@dataclass(frozen=True, slots=True)
class Predicate:
    """A parsed predicate (see the module docstring).

    Attributes:
        metric: The metric's dotted name.
        comparator: The comparison.
        bound: The number, in the metric's unit.
        bound_text: The number as written.
        site: The site the predicate is about, or ``None`` for every site.
        count: How many ``unit`` s it must be sustained for.
        unit: ``second``, ``minute``, ``hour`` or ``day`` (singular).
    """

    metric: str
    comparator: Comparator
    bound: float
    bound_text: str
    site: str | None
    count: int
    unit: str

    @property
    def duration(self) -> timedelta:
        """How long it must be sustained."""
        return _UNITS[self.unit] * self.count

    @property
    def text(self) -> str:
        """The normal form: the tokens joined by single spaces, the unit plural unless the count is 1."""
        where = "" if self.site is None else f" at {self.site}"
        unit = self.unit if self.count == 1 else self.unit + "s"
        return (
            f"{self.metric} {self.comparator.value} {self.bound_text}{where} "
            f"sustained for {self.count} {unit}"
        )

    def __str__(self) -> str:
        """The normal form."""
        return self.text


class _Tokens:
    """The predicate's tokens with their 1-based columns, read left to right."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.items = [(m.group(), m.start() + 1) for m in _TOKEN.finditer(text)]
        self.position = 0

    def peek(self) -> str | None:
        return self.items[self.position][0] if self.position < len(self.items) else None

    def take(self, pattern: re.Pattern[str] | frozenset[str], expected: str) -> str:
        token = self.peek()
        ok = token is not None and (
            token in pattern if isinstance(pattern, frozenset) else pattern.fullmatch(token) is not None
        )
        if not ok:
            raise PredicateSyntaxError(self.text, self.column(), expected, token)
        assert token is not None
        self.position += 1
        return token

    def column(self) -> int:
        if self.position < len(self.items):
            return self.items[self.position][1]
        return len(self.text) + 1


_COMPARATORS = frozenset(c.value for c in Comparator)
_UNIT_WORDS = frozenset({*_UNITS, *(u + "s" for u in _UNITS)})


def parse_predicate(text: str) -> Predicate:
    """Parse a predicate (see the module docstring for the grammar).

    Raises:
        PredicateSyntaxError: the column where the text departs from the grammar,
            what was expected there and what was found.
    """
    if not 0 < len(text) <= MAX_PREDICATE_LENGTH:
        raise PredicateSyntaxError(text, 1, f"a predicate of 1 to {MAX_PREDICATE_LENGTH} characters", None)
    if text[0] == " " or text[-1] == " ":
        column = 1 if text[0] == " " else len(text)
        raise PredicateSyntaxError(text, column, "no space before the first or after the last token", " ")
    tokens = _Tokens(text)
    metric = tokens.take(_METRIC, "a metric name like iaea.enrichment_pct")
    comparator = Comparator(tokens.take(_COMPARATORS, "a comparator (<, <=, ==, >=, >)"))
    bound_text = tokens.take(_NUMBER, "a number like 3.67 (no exponent)")
    if len(bound_text) > 32:
        tokens.position -= 1
        raise PredicateSyntaxError(text, tokens.column(), "a number of at most 32 characters", bound_text)
    site = None
    if tokens.peek() == "at":
        tokens.take(frozenset({"at"}), "'at'")
        site = tokens.take(_SITE, "a site like natanz")
    tokens.take(frozenset({"sustained"}), "'sustained'" if site is not None else "'at' or 'sustained'")
    tokens.take(frozenset({"for"}), "'for'")
    count = int(tokens.take(_COUNT, f"a whole number from 1 to {_MAX_COUNT}"))
    unit = tokens.take(_UNIT_WORDS, "a unit (seconds, minutes, hours or days)").removesuffix("s")
    if tokens.peek() is not None:
        raise PredicateSyntaxError(text, tokens.column(), "the end of the predicate", tokens.peek())
    return Predicate(metric, comparator, float(bound_text), bound_text, site, count, unit)


def window_index(at: datetime, window: timedelta) -> int:
    """The index of the observation window of length ``window`` holding ``at`` (epoch-aligned)."""
    return (at - EPOCH) // window


def window_start(index: int, window: timedelta) -> datetime:
    """When observation window ``index`` starts."""
    return EPOCH + window * index


@dataclass(frozen=True, slots=True)
class PredicateProgress:
    """How far a predicate is from holding at one instant.

    Attributes:
        text: The predicate's normal form.
        held: How long it has held (consecutive good windows times the window
            length, at most :attr:`required`).
        required: How long it must hold (the windows it needs times the window length).
        holds: True when it holds.
        unit: The predicate's time unit, to show the figures in.
        note: Why it cannot hold at all (an undefined metric), or ``None``.
    """

    text: str
    held: timedelta
    required: timedelta
    holds: bool
    unit: str
    note: str | None = None

    @property
    def held_units(self) -> int:
        """:attr:`held` in whole :attr:`unit` s (rounded down)."""
        return self.held // _UNITS[self.unit]

    @property
    def required_units(self) -> int:
        """:attr:`required` in whole :attr:`unit` s (rounded up)."""
        return -(-self.required // _UNITS[self.unit])

    def describe(self) -> str:
        """``predicate `<text>` held 12 of 30 days`` (or why it cannot hold)."""
        if self.note is not None:
            return f"predicate `{self.text}`: {self.note}"
        unit = self.unit if self.required_units == 1 else self.unit + "s"
        return f"predicate `{self.text}` held {self.held_units} of {self.required_units} {unit}"


Lookup = Callable[[int], Sequence[tuple[str, float]]]
"""Counted ``(site, value)`` pairs of one metric in the observation window of that index."""


def evaluate(predicate: Predicate, window: timedelta, counted: Lookup, now: datetime) -> PredicateProgress:
    """Evaluate ``predicate`` at ``now`` (see the module docstring).

    Args:
        predicate: The predicate.
        window: The metric's observation window length.
        counted: The counted values of the predicate's metric, by window index.
        now: The decision time.
    """
    needed = max(1, math.ceil(predicate.duration / window))
    compare, bound, site = _COMPARE[predicate.comparator], predicate.bound, predicate.site
    current = window_index(now, window)
    held = 0
    index = current
    while held < needed:  # the hot loop of an escrow check: kept flat
        values = counted(index)
        if site is not None:
            values = [pair for pair in values if pair[0] == site]
        if not values:  # empty: only the current window may be, and is skipped
            if index != current:
                break
            index -= 1
            continue
        if not all(compare(value, bound) for _, value in values):  # bad
            break
        held += 1
        index -= 1
    return PredicateProgress(
        predicate.text, window * held, window * needed, held >= needed, predicate.unit, None
    )
