"""Events of the coordination log (ADR-0027), in the past tense.

``coordination.resource_booked`` records whether the booking was accepted or
queued and the bookings in its way; ``coordination.booking_cancelled`` the
queued bookings it let in. ``coordination.deadlock_detected`` names a cycle of
the wait-for graph (its text, its nodes) and the suggested resolutions;
``coordination.deadlock_resolved`` says it is gone. ``coordination.dependency_met``
carries only the fact (track, log index, event type), never content (ADR-0028).
This module does not decide or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, TypeAlias

from backchannel.coordination.calendar import BookingStatus, ResourceKind
from backchannel.domain._event_base import Recorded
from backchannel.domain.codec import Checked, Integer, Text
from backchannel.domain.coordination.commands import DependencyKind, Evidence, check_coordination_id
from backchannel.domain.ids import TrackId

__all__ = [
    "BookingCancelled",
    "CoordinationEvent",
    "DeadlockDetected",
    "DeadlockResolved",
    "DependencyDeclared",
    "DependencyMet",
    "DependencyWithdrawn",
    "ResourceBooked",
    "ResourceRegistered",
]

CoordId: TypeAlias = Annotated[str, Checked(check_coordination_id)]
"""A coordination id field (a waiter, dependency, resource, booking or holder id)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyDeclared(Recorded):
    """``waiter`` now waits on ``on_track`` recording ``kind`` for ``ref``."""

    type: ClassVar[str] = "coordination.dependency_declared"
    dependency_id: CoordId
    waiter: CoordId
    on_track: TrackId
    kind: DependencyKind
    ref: CoordId


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyWithdrawn(Recorded):
    """An unmet dependency was withdrawn (for ``reason``: phasing, a changed plan)."""

    type: ClassVar[str] = "coordination.dependency_withdrawn"
    dependency_id: CoordId
    reason: Annotated[str, Text(500)]


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyMet(Recorded):
    """The other track's entry ``evidence.log_index`` is the awaited ``evidence.event_type``: met."""

    type: ClassVar[str] = "coordination.dependency_met"
    dependency_id: CoordId
    evidence: Evidence


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRegistered(Recorded):
    """A person, room or channel was registered with ``capacity`` (a person's attention budget)."""

    type: ClassVar[str] = "coordination.resource_registered"
    resource_id: CoordId
    kind: ResourceKind
    capacity: Annotated[int, Integer(1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceBooked(Recorded):
    """``holder`` booked ``resource`` over ``[start, end)``: accepted, or queued behind ``blockers``."""

    type: ClassVar[str] = "coordination.resource_booked"
    booking_id: CoordId
    resource: CoordId
    holder: CoordId
    start: datetime
    end: datetime
    priority: int
    status: BookingStatus
    blockers: tuple[CoordId, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingCancelled(Recorded):
    """A booking was cancelled; the queued bookings ``promoted`` were accepted in its place, in order."""

    type: ClassVar[str] = "coordination.booking_cancelled"
    booking_id: CoordId
    promoted: tuple[CoordId, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlockDetected(Recorded):
    """A cycle formed on the wait-for graph: ``cycle`` in words, its ``nodes``, and the ``suggestions``."""

    type: ClassVar[str] = "coordination.deadlock_detected"
    deadlock_id: Annotated[str, Text(4000)]
    cycle: Annotated[str, Text(8000)]
    nodes: tuple[CoordId, ...]
    suggestions: tuple[Annotated[str, Text(2000)], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlockResolved(Recorded):
    """The cycle ``deadlock_id`` is broken (a cancellation, a withdrawal or a met dependency)."""

    type: ClassVar[str] = "coordination.deadlock_resolved"
    deadlock_id: Annotated[str, Text(4000)]


CoordinationEvent: TypeAlias = (
    DependencyDeclared
    | DependencyWithdrawn
    | DependencyMet
    | ResourceRegistered
    | ResourceBooked
    | BookingCancelled
    | DeadlockDetected
    | DeadlockResolved
)
"""Any coordination event."""
