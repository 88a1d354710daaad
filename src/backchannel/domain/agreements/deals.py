"""Staged deals: the terms (phases of reciprocal steps), the two-phase commit's records and events.

A **deal** is an id, a title and ordered **phases**; each phase is a list of
reciprocal **steps** (at least two distinct parties per phase). A step names:

- ``party``: the delegation that acts;
- ``action``: what it does (text);
- ``issue``: the agenda issue the step's quantity is on, or ``None``;
- ``quantity``: ``{"value": v, "unit": u}``. When the step names an issue,
  the value must fit that issue in the ratified agenda (its type, range and
  step, by :mod:`~backchannel.domain.agenda`'s own checks) and the unit must
  be the issue's unit (a number issue) or ``None`` (choices, booleans, dates
  and text have no unit). Otherwise the value is a finite number, a text or
  a boolean and the unit free text or ``None``;
- ``conditions``: texts, or references ``{"ref": "<kind>:<target>"}`` to a
  step of an earlier phase of the same deal (``step:2.1``: phase 2, step 1),
  another deal of the track (``deal:<id>``) or a published commitment
  (``commitment:<64 hex>``).

Its JSON form (:meth:`Deal.to_dict`)::

    {
        "id": "doha-1",
        "title": "...",
        "phases": [
            [
                {
                    "party": "iran",
                    "action": "cap enrichment",
                    "issue": "enrichment_cap_pct",
                    "quantity": {"value": 3.67, "unit": "%"},
                    "conditions": [],
                },
                ...,
            ]
        ],
    }

The **deal hash** is SHA-256 of the RFC 8785 canonical JSON of that form. The
wire layer computes it (``backchannel.protocol.wire.deal_hash``) and the commands carry
it; principals vote by signing it.

**States** (:class:`DealStatus`): ``drafted`` (circulated, no votes) ->
``preparing`` (votes open until the deadline) -> ``committed`` or
``aborted``, final and mutually exclusive. Nothing a deal grants takes effect
before it commits; so an abort restores the prior state by construction, and
its event lists every step as a :class:`Compensation` (what would have been
granted and is now void).

The events (past tense, strict JSON as in :mod:`backchannel.domain.events`; defined in
:mod:`~backchannel.domain.agreements.deal_events`):
``deal.drafted``, ``deal.prepared``, ``deal.voted``, ``deal.committed``,
``deal.aborted``. The rules that emit them are in ``_deal_rules``; the
commands in :mod:`~backchannel.domain.agreements.deal_commands`.

This module is pure: no I/O, no clock, no canonical JSON (the wire hashes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, TypeAlias

from backchannel.domain.codec import LOG_STYLE, At, Checked, Integer, Reader, Text
from backchannel.domain.errors import (
    SchemaViolationError,
    TrackStateError,
    Violation,
)
from backchannel.domain.ids import check_party_id
from backchannel.domain.values import JSONValue
from backchannel.errors import DomainError, EncodingError

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DETAIL",
    "MAX_PHASES",
    "MAX_STEPS",
    "AbortReason",
    "Ballot",
    "Compensation",
    "Condition",
    "Deal",
    "DealDeadlineError",
    "DealOutcome",
    "DealRecord",
    "DealStateError",
    "DealStatus",
    "Quantity",
    "Reference",
    "Step",
    "UnknownDealError",
    "Vote",
    "check_deal_id",
]

MAX_PHASES = 16
"""At most this many phases per deal."""
MAX_STEPS = 32
"""At most this many steps per phase."""
MAX_CONDITIONS = 16
"""At most this many conditions per step."""
_MAX_TITLE = 200
_MAX_ACTION = 500
_MAX_TEXT_VALUE = 200
_MAX_UNIT = 32
MAX_DETAIL = 2_000
"""The longest detail of an abort, in characters."""
_DEAL_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ISSUE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_STEP_REF = re.compile(r"([1-9][0-9]{0,2})\.([1-9][0-9]{0,2})")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REF_KINDS = ("commitment", "deal", "step")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class UnknownDealError(DomainError):
    """No deal of that id exists on the track."""


class DealStateError(TrackStateError):
    """The command is illegal in the deal's state (a vote on a drafted or final deal, a changed vote...)."""


class DealDeadlineError(DealStateError):
    """A deadline rule: a vote at or after the prepare deadline, or a deadline not after now."""


# --------------------------------------------------------------------------------------------------
# Kinds
# --------------------------------------------------------------------------------------------------


class Vote(StrEnum):
    """A principal's vote on a deal hash."""

    YES = "yes"
    NO = "no"


class DealStatus(StrEnum):
    """Where a deal stands (see the module docstring)."""

    DRAFTED = "drafted"
    PREPARING = "preparing"
    COMMITTED = "committed"
    ABORTED = "aborted"

    @property
    def final(self) -> bool:
        """True for committed and aborted."""
        return self in {DealStatus.COMMITTED, DealStatus.ABORTED}


class AbortReason(StrEnum):
    """Why a deal aborted."""

    VOTE_NO = "vote_no"
    """A principal voted NO."""
    HASH_MISMATCH = "hash_mismatch"
    """A principal signed a hash other than the deal's."""
    DEADLINE = "deadline"
    """The prepare deadline passed with votes missing."""


def check_deal_id(value: object, field: str = "deal_id") -> list[Violation]:
    """Violations of a deal id ``[a-z0-9][a-z0-9._-]{0,63}`` (empty when valid)."""
    if not isinstance(value, str) or not _DEAL_ID.fullmatch(value):
        return [
            Violation(
                field, "pattern", f"{field}: {str(value)[:80]!r} does not match [a-z0-9][a-z0-9._-]{{0,63}}"
            )
        ]
    return []


def _v(field: str, rule: str, message: str) -> Violation:
    return Violation(field, rule, f"{field}: {message}")


def _text_violations(value: object, field: str, maximum: int) -> list[Violation]:
    if not isinstance(value, str) or not 0 < len(value) <= maximum:
        return [_v(field, "length", f"expected text of 1 to {maximum} characters")]
    return []


# --------------------------------------------------------------------------------------------------
# The terms
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quantity:
    """A step's amount: a value and its unit (``None``: unitless)."""

    value: bool | int | float | str
    unit: str | None

    def violations(self, where: str) -> list[Violation]:
        """The shape violations of this quantity (empty when well formed)."""
        found: list[Violation] = []
        value: object = self.value
        if isinstance(value, str):
            found += _text_violations(value, f"{where}.value", _MAX_TEXT_VALUE)
        elif not isinstance(value, (bool, int, float)) or not math.isfinite(value):
            found.append(_v(f"{where}.value", "type", "expected a finite number, a text or a boolean"))
        if self.unit is not None:
            found += _text_violations(self.unit, f"{where}.unit", _MAX_UNIT)
        return found

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form ``{"value", "unit"}``."""
        return {"value": self.value, "unit": self.unit}

    def __str__(self) -> str:
        """``3.67 %``, ``tier-1``."""
        return f"{self.value}" if self.unit is None else f"{self.value} {self.unit}"


@dataclass(frozen=True, slots=True)
class Reference:
    """A condition that points at something: ``step:<phase>.<step>``, ``deal:<id>``, ``commitment:<hex>``."""

    kind: str
    target: str

    def violations(self, where: str) -> list[Violation]:
        """The shape violations of this reference (empty when well formed)."""
        if self.kind not in _REF_KINDS:
            return [_v(where, "ref_kind", f"{self.kind!r:.40} is not one of {', '.join(_REF_KINDS)}")]
        pattern = {"step": _STEP_REF, "deal": _DEAL_ID, "commitment": _HEX64}[self.kind]
        if not pattern.fullmatch(self.target):
            return [_v(where, "ref_target", f"{self.target!r:.80} is not a valid {self.kind} reference")]
        return []

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form ``{"ref": "<kind>:<target>"}``."""
        return {"ref": f"{self.kind}:{self.target}"}

    def __str__(self) -> str:
        """``step:1.2``."""
        return f"{self.kind}:{self.target}"


Condition: TypeAlias = str | Reference
"""A step's condition: a text, or a :class:`Reference`."""


@dataclass(frozen=True, slots=True)
class Step:
    """One party's action in a phase (see the module docstring)."""

    party: str
    action: str
    issue: str | None
    quantity: Quantity
    conditions: tuple[Condition, ...] = ()

    def violations(self, where: str) -> list[Violation]:
        """The shape violations of this step (empty when well formed)."""
        found = check_party_id(self.party, f"{where}.party")
        found += _text_violations(self.action, f"{where}.action", _MAX_ACTION)
        issue: object = self.issue
        if issue is not None and not (isinstance(issue, str) and _ISSUE.fullmatch(issue)):
            found.append(
                _v(f"{where}.issue", "pattern", "expected an agenda issue name [a-z][a-z0-9_]{0,63}")
            )
        found += self.quantity.violations(f"{where}.quantity")
        if len(self.conditions) > MAX_CONDITIONS:
            found.append(_v(f"{where}.conditions", "max_items", f"at most {MAX_CONDITIONS}"))
        for index, condition in enumerate(self.conditions):
            at = f"{where}.conditions.{index}"
            if isinstance(condition, Reference):
                found += condition.violations(at)
            else:
                found += _text_violations(condition, at, _MAX_ACTION)
        return found

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        conditions: list[JSONValue] = [
            c.to_dict() if isinstance(c, Reference) else c for c in self.conditions
        ]
        return {
            "party": self.party,
            "action": self.action,
            "issue": self.issue,
            "quantity": self.quantity.to_dict(),
            "conditions": conditions,
        }


@dataclass(frozen=True, slots=True)
class Deal:
    """A staged deal: ``id``, ``title`` and ordered phases of reciprocal steps.

    Construction checks every rule of shape and raises one
    :class:`~backchannel.domain.errors.SchemaViolationError` listing each
    violation by path (``phases.0.steps.1.quantity.unit``). Whether the parties,
    issues and references exist on a track is the rules' job (``_deal_rules``).
    """

    id: str
    title: str
    phases: tuple[tuple[Step, ...], ...]

    def __post_init__(self) -> None:
        """Check the shape (see the class docstring)."""
        found = check_deal_id(self.id, "id") + _text_violations(self.title, "title", _MAX_TITLE)
        if not 0 < len(self.phases) <= MAX_PHASES:
            found.append(_v("phases", "count", f"expected 1 to {MAX_PHASES} phases"))
        for number, phase in enumerate(self.phases, 1):
            found += _phase_violations(self, number, phase)
        if found:
            raise SchemaViolationError(found)

    def steps(self) -> Iterator[tuple[int, int, Step]]:
        """Every step as ``(phase number, step number, step)``, both from 1, in order."""
        for phase_number, phase in enumerate(self.phases, 1):
            for step_number, step in enumerate(phase, 1):
                yield phase_number, step_number, step

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form whose canonical SHA-256 is the deal hash."""
        phases: list[JSONValue] = [[step.to_dict() for step in phase] for phase in self.phases]
        return {"id": self.id, "title": self.title, "phases": phases}

    @classmethod
    def from_dict(cls, value: JSONValue) -> Deal:
        """Decode the JSON form strictly.

        Raises:
            SchemaViolationError: every malformed field, named by its path.
        """
        parser = _Parser()
        raw = parser.closed(value, "deal", frozenset({"id", "title", "phases"}))
        phases: list[tuple[Step, ...]] = []
        if raw is not None:
            for number, phase in enumerate(parser.array(raw["phases"], "phases")):
                steps = parser.array(phase, f"phases.{number}")
                phases.append(tuple(parser.step(s, f"phases.{number}.{i}") for i, s in enumerate(steps)))
        if parser.found or raw is None:
            raise SchemaViolationError(parser.found)
        return cls(id=_as_text(raw["id"]), title=_as_text(raw["title"]), phases=tuple(phases))


def _phase_violations(deal: Deal, number: int, phase: tuple[Step, ...]) -> list[Violation]:
    where = f"phases.{number - 1}"
    found: list[Violation] = []
    if not 0 < len(phase) <= MAX_STEPS:
        found.append(_v(where, "count", f"expected 1 to {MAX_STEPS} steps"))
    elif len({step.party for step in phase}) < 2:
        found.append(_v(where, "reciprocal", "a phase's steps name at least two distinct parties"))
    for index, step in enumerate(phase):
        at = f"{where}.{index}"
        found += step.violations(at)
        for position, condition in enumerate(step.conditions):
            if isinstance(condition, Reference):
                found += _self_reference(deal, number, condition, f"{at}.conditions.{position}")
    return found


def _self_reference(deal: Deal, phase: int, ref: Reference, where: str) -> list[Violation]:
    """A ``step:`` reference names a step of an earlier phase; a ``deal:`` one another deal."""
    if ref.kind == "deal" and ref.target == deal.id:
        return [_v(where, "ref", "a deal cannot be conditional on itself")]
    match = _STEP_REF.fullmatch(ref.target) if ref.kind == "step" else None
    if match is None:
        return []
    target_phase, target_step = int(match.group(1)), int(match.group(2))
    if target_phase >= phase:
        return [_v(where, "ref", f"step {ref.target} is not in an earlier phase than phase {phase}")]
    if target_step > len(deal.phases[target_phase - 1]):
        return [_v(where, "ref", f"phase {target_phase} has no step {target_step}")]
    return []


class _Parser:
    """JSON -> deal terms, collecting every type violation by path (values are the dataclasses' job)."""

    def __init__(self) -> None:
        self.found: list[Violation] = []

    def closed(self, value: JSONValue, where: str, fields: frozenset[str]) -> Mapping[str, JSONValue] | None:
        if not isinstance(value, Mapping):
            self.found.append(_v(where, "type", "expected an object"))
            return None
        if set(value) != fields:
            self.found.append(_v(where, "form", f"expected exactly the fields {', '.join(sorted(fields))}"))
            return None
        return value

    def array(self, value: JSONValue, where: str) -> Sequence[JSONValue]:
        if isinstance(value, Sequence) and not isinstance(value, str):
            return value
        self.found.append(_v(where, "type", "expected a list"))
        return ()

    def step(self, value: JSONValue, where: str) -> Step:
        fields = frozenset({"party", "action", "issue", "quantity", "conditions"})
        raw = self.closed(value, where, fields)
        if raw is None:
            return _PLACEHOLDER
        quantity = self.closed(raw["quantity"], f"{where}.quantity", frozenset({"value", "unit"}))
        conditions = tuple(
            self.condition(c, f"{where}.conditions.{i}")
            for i, c in enumerate(self.array(raw["conditions"], f"{where}.conditions"))
        )
        for name in ("party", "action"):
            if not isinstance(raw[name], str):
                self.found.append(_v(f"{where}.{name}", "type", "expected text"))
        issue = raw["issue"]
        if issue is not None and not isinstance(issue, str):
            self.found.append(_v(f"{where}.issue", "type", "expected text or null"))
        if quantity is None:
            return _PLACEHOLDER
        if quantity["unit"] is not None and not isinstance(quantity["unit"], str):
            self.found.append(_v(f"{where}.quantity.unit", "type", "expected text or null"))
        if not isinstance(quantity["value"], (bool, int, float, str)):
            self.found.append(_v(f"{where}.quantity.value", "type", "expected a number, a text or a boolean"))
        value, unit = quantity["value"], quantity["unit"]
        return Step(
            party=_as_text(raw["party"]),
            action=_as_text(raw["action"]),
            issue=issue if isinstance(issue, str) else None,
            quantity=Quantity(
                value if isinstance(value, (bool, int, float, str)) else 0,
                unit if isinstance(unit, str) else None,
            ),
            conditions=conditions,
        )

    def condition(self, value: JSONValue, where: str) -> Condition:
        if isinstance(value, str):
            return value
        raw = self.closed(value, where, frozenset({"ref"}))
        if raw is None:
            return ""
        ref = raw["ref"]
        if not isinstance(ref, str) or ":" not in ref:
            self.found.append(_v(f"{where}.ref", "type", 'expected "<kind>:<target>"'))
            return ""
        kind, _, target = ref.partition(":")
        return Reference(kind, target)


def _as_text(value: JSONValue) -> str:
    """``value`` if it is text, else ``""`` (its type violation is already recorded)."""
    return value if isinstance(value, str) else ""


_PLACEHOLDER = Step("placeholder", "placeholder", None, Quantity(0, None))
"""Stands in for a step that did not parse; its violations are already recorded."""


# --------------------------------------------------------------------------------------------------
# Records: a deal's state on the track
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compensation:
    """A step of an aborted deal: what it would have granted, now void (it never took effect)."""

    phase: int
    step: int
    party: str
    action: str
    quantity: Quantity

    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"phase", "step", "party", "action", "quantity", "rollback"}
    )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{"phase", "step", "party", "action", "quantity", "rollback": "void"}``."""
        return {
            "phase": self.phase,
            "step": self.step,
            "party": self.party,
            "action": self.action,
            "quantity": self.quantity.to_dict(),
            "rollback": "void",
        }

    @classmethod
    def from_dict(cls, value: JSONValue, where: str) -> Compensation:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        at = At(where, LOG_STYLE)
        r = Reader(value, cls._FIELDS, at)
        if r.raw("rollback") != "void":
            raise EncodingError(f"{where}.rollback: expected 'void'")
        quantity = Reader(r.raw("quantity"), frozenset({"value", "unit"}), at / "quantity")
        value_raw, unit = quantity.raw("value"), quantity.raw("unit")
        if not isinstance(value_raw, (bool, int, float, str)) or not (unit is None or isinstance(unit, str)):
            raise EncodingError(f"{where}.quantity: expected a value and a unit or null")
        return cls(
            phase=r.read("phase", Integer(1)),
            step=r.read("step", Integer(1)),
            party=r.read("party", Checked(check_party_id)),
            action=r.read("action", Text(_MAX_ACTION)),
            quantity=Quantity(value_raw, unit),
        )

    @classmethod
    def of(cls, deal: Deal) -> tuple[Compensation, ...]:
        """Every step of ``deal`` as a compensation, in order."""
        return tuple(cls(p, s, step.party, step.action, step.quantity) for p, s, step in deal.steps())


@dataclass(frozen=True, slots=True)
class Ballot:
    """One principal's vote: what it voted, on which hash, when."""

    vote: Vote
    deal_hash: bytes
    at: datetime


@dataclass(frozen=True, slots=True)
class DealOutcome:
    """How a deal ended.

    Attributes:
        status: Committed or aborted.
        at: When.
        reason: Why it aborted (``None`` when committed).
        detail: A sentence naming who and what.
        missing: Voters who had not voted (an abort at the deadline).
        compensations: For an abort, every step, now void.
    """

    status: DealStatus
    at: datetime
    reason: AbortReason | None = None
    detail: str = ""
    missing: tuple[str, ...] = ()
    compensations: tuple[Compensation, ...] = ()


@dataclass(frozen=True, slots=True)
class DealRecord:
    """A deal on the track.

    Attributes:
        deal: Its terms.
        deal_hash: SHA-256 of their canonical JSON (what voters sign).
        status: Where it stands.
        revision: 1 for the first draft (or a direct prepare), +1 per redraft.
        by: The mediator principal who last drafted or prepared it.
        agenda_version: The ratified agenda version its issues were checked against
            (``None``: it names no issue).
        deadline: The prepare deadline (``None`` while drafted).
        voters: The principals who must vote YES, sorted (fixed at prepare).
        ballots: Voter -> ballot.
        outcome: How it ended (``None`` until committed or aborted).
        sequence: The track event number that last drafted or prepared it.
    """

    deal: Deal
    deal_hash: bytes
    status: DealStatus
    revision: int
    by: str
    agenda_version: int | None
    deadline: datetime | None
    voters: tuple[str, ...]
    ballots: Mapping[str, Ballot]
    outcome: DealOutcome | None
    sequence: int

    @property
    def deal_id(self) -> str:
        """The deal's id."""
        return self.deal.id

    @property
    def missing(self) -> tuple[str, ...]:
        """Voters who have not voted yet, sorted."""
        return tuple(v for v in self.voters if v not in self.ballots)
