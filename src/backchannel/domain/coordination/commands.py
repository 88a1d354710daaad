"""Commands of the coordination log: dependencies, resources, bookings and met dependencies.

Construction checks shapes only (:class:`~backchannel.domain.command_envelope.CommandEnvelope`);
:mod:`~backchannel.domain.coordination.rules` decides. Every id here is a
coordination id (:func:`check_coordination_id`): letters, digits and
``._:/#-``, 1 to 128 characters, so a waiter may be a track
(``us-iran-nuclear``), an agenda item (``us-iran-nuclear#phase-2``) or a
meeting (``meeting:doha-3``), and a resource ``person:usa/principal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from backchannel.coordination.calendar import ResourceKind
from backchannel.domain.codec import Using
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.ids import check_track_id
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "FLAG",
    "MAX_PRIORITY",
    "BookResource",
    "CancelBooking",
    "DeclareDependency",
    "DependencyKind",
    "Evidence",
    "RecordDependencyMet",
    "RegisterResource",
    "WithdrawDependency",
    "check_coordination_id",
]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}")
MAX_PRIORITY = 1000
"""The highest booking priority."""
_MAX_CAPACITY = 1000


def check_coordination_id(value: object, field: str) -> list[Violation]:
    """Violations of a coordination id (a waiter, dependency, resource, booking or holder id)."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return []
    return [
        Violation(
            field, "pattern", f"{field}: expected 1 to 128 of letters, digits and ._:/#- (got {value!r:.80})"
        )
    ]


def _in_range(value: object, field: str, low: int, high: int) -> list[Violation]:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return []
    return [
        Violation(field, "range", f"{field}: expected an integer from {low} to {high} (got {value!r:.80})")
    ]


def _flag(raw: JSONValue, path: str) -> bool:
    if not isinstance(raw, bool):
        raise EncodingError(f"{path}: expected true or false, got {raw!r:.80}")
    return raw


def _flag_json(value: bool) -> JSONValue:
    return value


FLAG = Using(_flag, _flag_json)
"""The codec of a boolean field (``true`` or ``false``, nothing else)."""


class DependencyKind(StrEnum):
    """The outcome of another track that a dependency waits for, and the event that records it."""

    DEAL_COMMITTED = "deal_committed"
    ESCROW_RELEASED = "escrow_released"
    COMMITMENT_REVEALED = "commitment_revealed"

    @property
    def event_type(self) -> str:
        """The event type of the other track's log that satisfies it (``deal.committed``...)."""
        return _EVENT_TYPES[self]


_EVENT_TYPES = {
    DependencyKind.DEAL_COMMITTED: "deal.committed",
    DependencyKind.ESCROW_RELEASED: "escrow.released",
    DependencyKind.COMMITMENT_REVEALED: "commitment.revealed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclareDependency(CommandEnvelope):
    """``waiter`` proceeds only when ``on_track`` records ``kind`` for ``ref`` (mediator staff).

    ``ref`` is the deal, escrow or commitment id in the other track.
    """

    dependency_id: str
    waiter: str
    on_track: str
    kind: DependencyKind
    ref: str

    def _violations(self) -> list[Violation]:
        return (
            check_coordination_id(self.dependency_id, "dependency_id")
            + check_coordination_id(self.waiter, "waiter")
            + check_track_id(self.on_track, "on_track")
            + check_coordination_id(self.ref, "ref")
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawDependency(CommandEnvelope):
    """Withdraw an unmet dependency (phasing: the waiter no longer needs it); mediator staff."""

    dependency_id: str
    reason: str

    def _violations(self) -> list[Violation]:
        found = check_coordination_id(self.dependency_id, "dependency_id")
        if not 0 < len(self.reason) <= 500:
            found.append(Violation("reason", "length", "reason: expected 1 to 500 characters"))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterResource(CommandEnvelope):
    """A person, room or channel; ``capacity`` is a person's attention budget (1 for rooms, channels)."""

    resource_id: str
    kind: ResourceKind
    capacity: int = 1

    def _violations(self) -> list[Violation]:
        return check_coordination_id(self.resource_id, "resource_id") + _in_range(
            self.capacity, "capacity", 1, _MAX_CAPACITY
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BookResource(CommandEnvelope):
    """Book ``resource`` for ``holder`` (a track's session, or a meeting) over ``[start, end)``.

    A conflicting booking is refused, naming the holder, unless ``queue``: then
    it waits, by ``priority`` (higher first), until the holders cancel.
    """

    booking_id: str
    resource: str
    holder: str
    start: datetime
    end: datetime
    priority: int = 0
    queue: Annotated[bool, FLAG] = False

    def _violations(self) -> list[Violation]:
        found = (
            check_coordination_id(self.booking_id, "booking_id")
            + check_coordination_id(self.resource, "resource")
            + check_coordination_id(self.holder, "holder")
            + _in_range(self.priority, "priority", 0, MAX_PRIORITY)
        )
        if not self.start < self.end:
            found.append(Violation("end", "after_start", "end: must be after start"))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelBooking(CommandEnvelope):
    """Cancel an accepted or queued booking (mediator staff); queued ones that now fit go in."""

    booking_id: str

    def _violations(self) -> list[Violation]:
        return check_coordination_id(self.booking_id, "booking_id")


@dataclass(frozen=True, slots=True)
class Evidence:
    """The one fact a dependency learns from another track: entry ``log_index`` there is an ``event_type``."""

    track: str
    log_index: int
    event_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordDependencyMet(CommandEnvelope):
    """The service saw ``evidence`` in the other track's log: ``dependency_id`` is met (service only)."""

    dependency_id: str
    evidence: Evidence

    def _violations(self) -> list[Violation]:
        evidence: object = self.evidence
        found = check_coordination_id(self.dependency_id, "dependency_id")
        if not isinstance(evidence, Evidence):
            return [*found, Violation("evidence", "type", "evidence: expected Evidence")]
        found += check_track_id(evidence.track, "evidence.track")
        found += _in_range(evidence.log_index, "evidence.log_index", 0, 2**62)
        if evidence.event_type not in _EVENT_TYPES.values():
            found.append(
                Violation(
                    "evidence.event_type",
                    "one_of",
                    f"evidence.event_type: not an outcome ({evidence.event_type!r:.80})",
                )
            )
        return found
