"""The agenda: the contract-first schema of a negotiation.

An :class:`Agenda` lists the issues under negotiation and the type, unit and
range of each::

    enrichment_cap_pct   number 0..90 %, step 0.01
    sanctions_relief     one of none | partial | full
    inspection_regime    one of baseline | enhanced | additional-protocol
    snapback             boolean
    review_date          date 2026-01-01..2030-12-31
    notes                text, at most 2,000 characters

:meth:`Agenda.check_values` checks a proposal's values and returns every
field-level :class:`~backchannel.domain.errors.Violation` (a NACK the sender
sees, never silence); :meth:`Agenda.validate_values` raises them as one
:class:`~backchannel.domain.errors.SchemaViolationError`. A number may be given
bare (in the agenda's unit) or as ``{"value": 3.67, "unit": "%"}``, whose unit
must match.

Agendas are versioned; ratification by every principal and amendment are
track rules (a later module), not this one's. This module is pure: no I/O, no
clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeAlias

from backchannel.domain.codec import LOG, Codec, Using
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.values import JSONValue

__all__ = [
    "Agenda",
    "BooleanIssue",
    "ChoiceIssue",
    "DateIssue",
    "Issue",
    "NumberIssue",
    "TextIssue",
]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OPTION = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_ISSUES = 200
_MAX_TEXT = 100_000


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class NumberIssue:
    """A number in ``unit`` within ``[minimum, maximum]``, optionally on a ``step`` grid from ``minimum``."""

    name: str
    unit: str
    minimum: float
    maximum: float
    step: float | None = None

    kind = "number"

    def check(self, value: JSONValue) -> list[Violation]:
        """Return the violations of ``value`` (empty when it fits)."""
        if isinstance(value, Mapping):
            if set(value) != {"value", "unit"}:
                return [_v(self.name, "number_form", 'expected a number or {"value": n, "unit": u}')]
            if value["unit"] != self.unit:
                return [
                    _v(self.name, "unit", f"unit {value['unit']!r} does not match the agenda's {self.unit!r}")
                ]
            value = value["value"]
        if not _is_number(value):
            return [_v(self.name, "type", f"expected a number in {self.unit}, got {_kind(value)}")]
        assert isinstance(value, (int, float))
        return self._check_range(value)

    def _check_range(self, value: float) -> list[Violation]:
        if value < self.minimum:
            return [_v(self.name, "minimum", f"{value} {self.unit} is below the minimum {self.minimum}")]
        if value > self.maximum:
            return [_v(self.name, "maximum", f"{value} {self.unit} is above the maximum {self.maximum}")]
        if self.step is not None and not _on_grid(value, self.minimum, self.step):
            return [_v(self.name, "step", f"{value} is not a multiple of {self.step} from {self.minimum}")]
        return []

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            "name": self.name,
            "type": self.kind,
            "unit": self.unit,
            "min": self.minimum,
            "max": self.maximum,
            "step": self.step,
        }


def _on_grid(value: float, start: float, step: float) -> bool:
    ratio = (Decimal(repr(value)) - Decimal(repr(start))) / Decimal(repr(step))
    return ratio == ratio.to_integral_value()


@dataclass(frozen=True, slots=True)
class ChoiceIssue:
    """One of a fixed list of options."""

    name: str
    options: tuple[str, ...]

    kind = "one_of"

    def check(self, value: JSONValue) -> list[Violation]:
        """Return the violations of ``value`` (empty when it fits)."""
        if not isinstance(value, str) or value not in self.options:
            return [_v(self.name, "one_of", f"{value!r} is not one of {', '.join(self.options)}")]
        return []

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {"name": self.name, "type": self.kind, "options": list(self.options)}


@dataclass(frozen=True, slots=True)
class BooleanIssue:
    """Yes or no."""

    name: str

    kind = "boolean"

    def check(self, value: JSONValue) -> list[Violation]:
        """Return the violations of ``value`` (empty when it fits)."""
        if not isinstance(value, bool):
            return [_v(self.name, "type", f"expected true or false, got {_kind(value)}")]
        return []

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {"name": self.name, "type": self.kind}


@dataclass(frozen=True, slots=True)
class DateIssue:
    """A calendar date (``YYYY-MM-DD``), optionally within ``[earliest, latest]``."""

    name: str
    earliest: date | None = None
    latest: date | None = None

    kind = "date"

    def check(self, value: JSONValue) -> list[Violation]:
        """Return the violations of ``value`` (empty when it fits)."""
        parsed = _parse_date(value)
        if parsed is None:
            return [_v(self.name, "type", f"expected a date YYYY-MM-DD, got {value!r}")]
        if self.earliest is not None and parsed < self.earliest:
            return [_v(self.name, "minimum", f"{parsed} is before the earliest date {self.earliest}")]
        if self.latest is not None and parsed > self.latest:
            return [_v(self.name, "maximum", f"{parsed} is after the latest date {self.latest}")]
        return []

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            "name": self.name,
            "type": self.kind,
            "earliest": None if self.earliest is None else self.earliest.isoformat(),
            "latest": None if self.latest is None else self.latest.isoformat(),
        }


def _parse_date(value: JSONValue) -> date | None:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TextIssue:
    """Free text of at most ``max_length`` characters."""

    name: str
    max_length: int

    kind = "text"

    def check(self, value: JSONValue) -> list[Violation]:
        """Return the violations of ``value`` (empty when it fits)."""
        if not isinstance(value, str):
            return [_v(self.name, "type", f"expected text, got {_kind(value)}")]
        if len(value) > self.max_length:
            return [_v(self.name, "max_length", f"{len(value)} characters, more than {self.max_length}")]
        return []

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {"name": self.name, "type": self.kind, "max_length": self.max_length}


Issue: TypeAlias = NumberIssue | ChoiceIssue | BooleanIssue | DateIssue | TextIssue
"""Any agenda issue."""


def _v(field: str, rule: str, message: str) -> Violation:
    return Violation(field=field, rule=rule, message=f"{field}: {message}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    return "a list"


@dataclass(frozen=True, slots=True)
class Agenda:
    """A version of a track's agenda: its issues, in order."""

    version: int
    issues: tuple[Issue, ...]

    def __post_init__(self) -> None:
        """Validate the agenda itself (raises :class:`SchemaViolationError`)."""
        violations = _agenda_violations(self)
        if violations:
            raise SchemaViolationError(violations)

    def issue(self, name: str) -> Issue | None:
        """The issue called ``name``, if any."""
        return next((i for i in self.issues if i.name == name), None)

    def check_values(self, values: JSONValue, *, complete: bool = False) -> list[Violation]:
        """Check a proposal's values against the agenda.

        Args:
            values: Issue name -> proposed value.
            complete: Require a value for every issue (default: a proposal may
                address some issues only, but at least one).

        Returns:
            Every violation, in agenda order then unknown fields (empty: fits).
        """
        if not isinstance(values, Mapping):
            return [_v("values", "type", f"expected an object of issue values, got {_kind(values)}")]
        violations: list[Violation] = []
        for issue in self.issues:
            if issue.name in values:
                violations.extend(issue.check(values[issue.name]))
            elif complete:
                violations.append(
                    _v(issue.name, "required", "missing (a complete proposal names every issue)")
                )
        known = {i.name for i in self.issues}
        violations.extend(
            _v(str(name), "unknown_field", f"not on agenda version {self.version}")
            for name in values
            if name not in known
        )
        if not values:
            violations.append(_v("values", "empty", "a proposal must address at least one issue"))
        return violations

    def validate_values(self, values: JSONValue, *, complete: bool = False) -> None:
        """Raise every violation of :meth:`check_values` at once.

        Raises:
            SchemaViolationError: the values do not fit (``violations`` lists each).
        """
        violations = self.check_values(values, complete=complete)
        if violations:
            raise SchemaViolationError(violations)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (what principals sign when they ratify)."""
        return {"version": self.version, "issues": [i.to_dict() for i in self.issues]}

    @classmethod
    def from_dict(cls, value: JSONValue) -> Agenda:
        """Decode the JSON form strictly.

        Raises:
            SchemaViolationError: every malformed field, named by its path.
        """
        if not isinstance(value, Mapping) or set(value) != {"version", "issues"}:
            raise SchemaViolationError([_v("agenda", "form", 'expected {"version": n, "issues": [...]}')])
        version, raw_issues = value["version"], value["issues"]
        if not isinstance(raw_issues, Sequence) or isinstance(raw_issues, str):
            raise SchemaViolationError([_v("issues", "type", "expected a list of issues")])
        issues: list[Issue] = []
        violations: list[Violation] = []
        for index, raw in enumerate(raw_issues):
            try:
                issues.append(_issue_from_dict(raw, f"issues.{index}"))
            except SchemaViolationError as e:
                violations.extend(e.violations)
        if violations:
            raise SchemaViolationError(violations)
        if not isinstance(version, int):
            raise SchemaViolationError([_v("version", "type", f"expected an integer, got {_kind(version)}")])
        return cls(version=version, issues=tuple(issues))


_ISSUE_FIELDS: dict[str, frozenset[str]] = {
    "number": frozenset({"name", "type", "unit", "min", "max", "step"}),
    "one_of": frozenset({"name", "type", "options"}),
    "boolean": frozenset({"name", "type"}),
    "date": frozenset({"name", "type", "earliest", "latest"}),
    "text": frozenset({"name", "type", "max_length"}),
}
_OPTIONAL = frozenset({"step", "earliest", "latest"})


def _refuse(where: str, rule: str, message: str) -> SchemaViolationError:
    return SchemaViolationError([_v(where, rule, message)])


def _text(raw: Mapping[str, JSONValue], key: str, where: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise _refuse(f"{where}.{key}", "type", f"expected text, got {_kind(value)}")
    return value


def _number(raw: Mapping[str, JSONValue], key: str, where: str) -> float:
    value = raw[key]
    if not _is_number(value):
        raise _refuse(f"{where}.{key}", "type", f"expected a finite number, got {_kind(value)}")
    assert isinstance(value, (int, float))
    return value


def _issue_from_dict(raw: JSONValue, where: str) -> Issue:
    if not isinstance(raw, Mapping):
        raise _refuse(where, "type", "expected an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _ISSUE_FIELDS:
        raise _refuse(f"{where}.type", "one_of", f"{kind!r} is not one of {', '.join(_ISSUE_FIELDS)}")
    fields = _ISSUE_FIELDS[kind]
    if unknown := set(raw) - fields:
        raise _refuse(where, "unknown_field", f"unknown field(s) {sorted(unknown)}")
    if missing := fields - _OPTIONAL - set(raw):
        raise _refuse(where, "required", f"missing field(s) {sorted(missing)}")
    return _BUILDERS[kind](raw, _text(raw, "name", where), where)


def _number_issue(raw: Mapping[str, JSONValue], name: str, where: str) -> Issue:
    step = None if raw.get("step") is None else _number(raw, "step", where)
    return NumberIssue(
        name, _text(raw, "unit", where), _number(raw, "min", where), _number(raw, "max", where), step
    )


def _choice_issue(raw: Mapping[str, JSONValue], name: str, where: str) -> Issue:
    options = raw["options"]
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise _refuse(f"{where}.options", "type", "expected a list of option names")
    return ChoiceIssue(name, tuple(str(o) for o in options))


def _boolean_issue(_raw: Mapping[str, JSONValue], name: str, _where: str) -> Issue:
    return BooleanIssue(name)


def _date_issue(raw: Mapping[str, JSONValue], name: str, where: str) -> Issue:
    return DateIssue(name, _date_field(raw, "earliest", where), _date_field(raw, "latest", where))


def _text_issue(raw: Mapping[str, JSONValue], name: str, where: str) -> Issue:
    length = raw["max_length"]
    if not isinstance(length, int) or isinstance(length, bool):
        raise _refuse(f"{where}.max_length", "type", f"expected an integer, got {_kind(length)}")
    return TextIssue(name, length)


_BUILDERS: dict[str, Callable[[Mapping[str, JSONValue], str, str], Issue]] = {
    "number": _number_issue,
    "one_of": _choice_issue,
    "boolean": _boolean_issue,
    "date": _date_issue,
    "text": _text_issue,
}


def _date_field(raw: Mapping[str, JSONValue], key: str, where: str) -> date | None:
    value = raw.get(key)
    if value is None:
        return None
    parsed = _parse_date(value)
    if parsed is None:
        raise _refuse(f"{where}.{key}", "type", f"expected a date YYYY-MM-DD, got {value!r}")
    return parsed


def _agenda_violations(agenda: Agenda) -> list[Violation]:
    out: list[Violation] = []
    version: object = agenda.version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        out.append(_v("version", "minimum", f"expected an integer >= 1, got {version!r}"))
    if not agenda.issues:
        out.append(_v("issues", "empty", "an agenda needs at least one issue"))
    if len(agenda.issues) > _MAX_ISSUES:
        out.append(_v("issues", "max_items", f"at most {_MAX_ISSUES} issues"))
    seen: set[str] = set()
    for index, issue in enumerate(agenda.issues):
        where = f"issues.{index}"
        if not _NAME.fullmatch(issue.name):
            out.append(_v(f"{where}.name", "pattern", f"{issue.name!r} must match [a-z][a-z0-9_]{{0,63}}"))
        elif issue.name in seen:
            out.append(_v(f"{where}.name", "unique", f"{issue.name!r} appears twice"))
        seen.add(issue.name)
        out.extend(_issue_violations(issue, where))
    return out


def _issue_violations(issue: Issue, where: str) -> list[Violation]:
    if isinstance(issue, NumberIssue):
        return _number_issue_violations(issue, where)
    if isinstance(issue, ChoiceIssue):
        return _choice_issue_violations(issue, where)
    if isinstance(issue, DateIssue) and issue.earliest and issue.latest and issue.earliest > issue.latest:
        return [_v(f"{where}.earliest", "maximum", "earliest is after latest")]
    if isinstance(issue, TextIssue) and not 0 < issue.max_length <= _MAX_TEXT:
        return [_v(f"{where}.max_length", "maximum", f"max_length must be an integer 1..{_MAX_TEXT}")]
    return []


def _choice_issue_violations(issue: ChoiceIssue, where: str) -> list[Violation]:
    if len(issue.options) < 2:
        return [_v(f"{where}.options", "min_items", "a choice needs at least two options")]
    if not all(_OPTION.fullmatch(o) for o in issue.options):
        return [_v(f"{where}.options", "pattern", "options must match [a-z0-9][a-z0-9_.-]{0,63}")]
    if len(set(issue.options)) != len(issue.options):
        return [_v(f"{where}.options", "unique", "options must be distinct")]
    return []


def _number_issue_violations(issue: NumberIssue, where: str) -> list[Violation]:
    out: list[Violation] = []
    if not 0 < len(issue.unit) <= 32:
        out.append(_v(f"{where}.unit", "length", "expected a unit of 1 to 32 characters"))
    if not (_is_number(issue.minimum) and _is_number(issue.maximum)):
        out.append(_v(f"{where}.min", "type", "min and max must be finite numbers"))
    elif issue.minimum > issue.maximum:
        out.append(_v(f"{where}.min", "maximum", f"min {issue.minimum} is above max {issue.maximum}"))
    if issue.step is not None and (not _is_number(issue.step) or issue.step <= 0):
        out.append(_v(f"{where}.step", "minimum", "step must be a positive number"))
    return out


def _agenda_from_json(value: JSONValue, path: str) -> Agenda:
    del path  # the agenda's own violations name their paths inside it
    return Agenda.from_dict(value)


_AGENDA: Codec[Agenda] = Using(_agenda_from_json, Agenda.to_dict, object_only=True)
LOG.register(Agenda, _AGENDA)
