"""The fold of a coordination log: :class:`CoordinationBook` (ADR-0027).

The book keeps, in persistent maps (each event sets a key or two):

- the **dependencies**: waiting, met (with the fact that met them) or withdrawn;
- the **resources** and their **bookings**, each accepted or queued as its
  event says;
- the **deadlocks** open now: each cycle that a ``coordination.deadlock_detected``
  named and no ``coordination.deadlock_resolved`` closed since.

:meth:`CoordinationBook.live` holds the pure structures of
:mod:`backchannel.coordination` as the log's events left them, kept up to date
event by event rather than rebuilt per decision (ADR-0053, see
:mod:`~backchannel.domain.coordination.live`): the calendars (their capacity
rule: never double-booked) and the wait-for graph, whose edges are the waiting
dependencies (the waiter waits on the other track) and the queued bookings
(their holder waits on the holders in their way). :meth:`CoordinationBook.calendars`
and :meth:`CoordinationBook.graph` build private copies for readers.

This module does not decide commands (see :mod:`~backchannel.domain.coordination.rules`)
and reads no clock: saturation is asked at an instant given as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from immutables import Map

from backchannel.coordination.calendar import Booking, BookingStatus, Calendars, Resource
from backchannel.coordination.waitfor import Cycle, WaitForGraph
from backchannel.domain.coordination.commands import DependencyKind, Evidence
from backchannel.domain.coordination.events import (
    BookingCancelled,
    CoordinationEvent,
    DeadlockDetected,
    DependencyDeclared,
    DependencyMet,
    DependencyWithdrawn,
    ResourceBooked,
    ResourceRegistered,
)
from backchannel.domain.coordination.live import History, LiveCoordination, structural
from backchannel.domain.errors import TrackStateError
from backchannel.errors import DomainError

__all__ = [
    "EMPTY_COORDINATION",
    "BookingRecord",
    "CoordinationBook",
    "CoordinationStateError",
    "DeadlockRecord",
    "DependencyRecord",
    "DependencyStatus",
    "ResourceBusyError",
    "UnknownBookingError",
    "UnknownDependencyError",
    "UnknownResourceError",
    "deadlock_id",
]


class UnknownDependencyError(DomainError):
    """No dependency of that id was declared in this coordination log."""


class UnknownResourceError(DomainError):
    """No resource of that id was registered in this coordination log."""


class UnknownBookingError(DomainError):
    """No booking of that id is held or queued in this coordination log."""


class CoordinationStateError(TrackStateError):
    """Illegal in the log's current state: an id used twice, a dependency met or withdrawn already."""


class ResourceBusyError(TrackStateError):
    """A booking that does not fit and was not to be queued: the message names the holders in its way."""


class DependencyStatus(StrEnum):
    """Where a dependency stands."""

    WAITING = "waiting"
    MET = "met"
    WITHDRAWN = "withdrawn"


_OUTCOMES = {
    DependencyKind.DEAL_COMMITTED: "deal {ref} committed",
    DependencyKind.ESCROW_RELEASED: "escrow {ref} released",
    DependencyKind.COMMITMENT_REVEALED: "commitment {ref} revealed",
}


@dataclass(frozen=True, slots=True)
class DependencyRecord:
    """One dependency: ``waiter`` needs ``on_track`` to record ``kind`` for ``ref``.

    Attributes:
        seq: Its place in the log's declarations (the graph is built in this order).
        status: Waiting, met or withdrawn.
        evidence: The fact that met it (met only).
        reason: Why it was withdrawn (withdrawn only).
    """

    dependency_id: str
    waiter: str
    on_track: str
    kind: DependencyKind
    ref: str
    declared_at: datetime
    seq: int
    status: DependencyStatus = DependencyStatus.WAITING
    evidence: Evidence | None = None
    reason: str | None = None

    def describe(self) -> str:
        """``"needs israel-hezbollah-ceasefire's deal ceasefire-1 committed"``."""
        return f"needs {self.on_track}'s {_OUTCOMES[self.kind].format(ref=self.ref)}"


@dataclass(frozen=True, slots=True)
class BookingRecord:
    """A booking held (accepted) or waiting (queued), with its place in the log."""

    booking: Booking
    status: BookingStatus
    seq: int


@dataclass(frozen=True, slots=True)
class DeadlockRecord:
    """An open deadlock as its ``coordination.deadlock_detected`` named it."""

    deadlock_id: str
    cycle: str
    nodes: tuple[str, ...]
    suggestions: tuple[str, ...]
    detected_at: datetime


def deadlock_id(cycle: Cycle) -> str:
    """A cycle's id: its nodes, sorted, joined by ``" + "`` (the same cycle, whatever edge closed it)."""
    return " + ".join(sorted(set(cycle.nodes)))


class _Cell:
    """A book's mutable corner: the live structures it owns, if any, and the book its last event made."""

    __slots__ = ("live", "next")

    def __init__(self) -> None:
        self.live: LiveCoordination | None = None
        self.next: tuple[CoordinationEvent, CoordinationBook] | None = None


@dataclass(frozen=True, slots=True)
class CoordinationBook:
    """Everything a coordination log's events established (see the module docstring).

    ``history`` (the structural events, for a rebuild) and the live structures
    are not part of a book's value: two books with the same maps are equal.
    """

    dependencies: Map[str, DependencyRecord]
    resources: Map[str, Resource]
    bookings: Map[str, BookingRecord]
    deadlocks: Map[str, DeadlockRecord]
    seq: int = 0
    history: History | None = field(default=None, compare=False, repr=False)
    cell: _Cell = field(default_factory=_Cell, compare=False, repr=False)

    # --- the fold ------------------------------------------------------------------------------
    def apply(self, event: CoordinationEvent) -> CoordinationBook:
        """The book after ``event`` (a KeyError for an unknown reference: the log is damaged).

        The same event applied to the same book again gives the same book (a
        decision applies its events to see the deadlocks they leave, then the
        fold applies them for good): the live structures move with it.
        """
        known = self.cell.next
        if known is not None and known[0] == event:
            return known[1]
        live = self._owned()
        if structural(event):
            after = replace(self._fold(event), history=History(event, self.history), cell=_Cell())
            live = live or LiveCoordination.rebuild(self.history, self.dependencies)
            live.apply(event, after.dependencies)
        else:
            after = replace(self._fold(event), cell=_Cell())
        if live is not None:
            live.owner, after.cell.live = after.cell, live
        if self.history is not None:  # the empty book is shared by every log: it remembers nothing
            self.cell.next = (event, after)
        return after

    def live(self) -> LiveCoordination:
        """The calendars and wait-for graph as this book's events left them (to read, never to change)."""
        live = self._owned()
        if live is None:
            live = LiveCoordination.rebuild(self.history, self.dependencies)
            live.owner, self.cell.live = self.cell, live
        return live

    def _owned(self) -> LiveCoordination | None:
        live = self.cell.live
        return live if live is not None and live.owner is self.cell else None

    def _fold(self, event: CoordinationEvent) -> CoordinationBook:  # noqa: PLR0911 - one case per event
        seq = self.seq + 1
        match event:
            case DependencyDeclared():
                record = DependencyRecord(
                    event.dependency_id, event.waiter, event.on_track, event.kind, event.ref, event.at, seq
                )
                return replace(self, dependencies=self.dependencies.set(event.dependency_id, record), seq=seq)
            case DependencyMet():
                met = replace(
                    self.dependencies[event.dependency_id],
                    status=DependencyStatus.MET,
                    evidence=event.evidence,
                )
                return replace(self, dependencies=self.dependencies.set(event.dependency_id, met))
            case DependencyWithdrawn():
                gone = replace(
                    self.dependencies[event.dependency_id],
                    status=DependencyStatus.WITHDRAWN,
                    reason=event.reason,
                )
                return replace(self, dependencies=self.dependencies.set(event.dependency_id, gone))
            case ResourceRegistered():
                resource = Resource(event.resource_id, event.kind, event.capacity)
                return replace(self, resources=self.resources.set(event.resource_id, resource))
            case ResourceBooked():
                booking = Booking(
                    event.booking_id, event.resource, event.holder, event.start, event.end, event.priority
                )
                held = BookingRecord(booking, event.status, seq)
                return replace(self, bookings=self.bookings.set(event.booking_id, held), seq=seq)
            case BookingCancelled():
                return replace(self, bookings=self._cancelled(event))
            case DeadlockDetected():
                found = DeadlockRecord(
                    event.deadlock_id, event.cycle, event.nodes, event.suggestions, event.at
                )
                return replace(self, deadlocks=self.deadlocks.set(event.deadlock_id, found))
            case _:  # the last kind, DeadlockResolved (mypy checks the match is exhaustive)
                return replace(self, deadlocks=self.deadlocks.delete(event.deadlock_id))

    def _cancelled(self, event: BookingCancelled) -> Map[str, BookingRecord]:
        bookings = self.bookings.mutate()
        del bookings[event.booking_id]
        for booking_id in event.promoted:
            bookings[booking_id] = replace(bookings[booking_id], status=BookingStatus.ACCEPTED)
        return bookings.finish()

    # --- queries -------------------------------------------------------------------------------
    def dependency_list(self) -> list[DependencyRecord]:
        """Every dependency, in declaration order."""
        return sorted(self.dependencies.values(), key=lambda d: d.seq)

    def booking_list(self) -> list[BookingRecord]:
        """Every booking held or queued, in log order."""
        return sorted(self.bookings.values(), key=lambda b: b.seq)

    def blocked(self, node: str) -> list[DependencyRecord]:
        """The waiting dependencies of ``node`` or of its items (``node#...``), in declaration order."""
        return [
            d
            for d in self.dependency_list()
            if d.status is DependencyStatus.WAITING and (d.waiter == node or d.waiter.startswith(f"{node}#"))
        ]

    def calendars(self) -> Calendars:
        """The calendars as the log left them: the accepted bookings, then the queued, in log order."""
        calendars = Calendars()
        for resource_id in sorted(self.resources):
            calendars.add_resource(self.resources[resource_id])
        records = self.booking_list()
        for record in (r for r in records if r.status is BookingStatus.ACCEPTED):
            calendars.book(record.booking)  # a subset of a booking set within capacity fits
        for record in (r for r in records if r.status is BookingStatus.QUEUED):
            calendars.book(record.booking, queue=True)
        return calendars

    def graph(self) -> WaitForGraph:
        """A private copy of the wait-for graph (:meth:`live`'s, rebuilt from the history: linear).

        For readers outside a decision (another thread may be changing the live
        one); decisions read ``live().graph``.
        """
        return LiveCoordination.rebuild(self.history, self.dependencies).graph


EMPTY_COORDINATION = CoordinationBook(Map(), Map(), Map(), Map())
"""The book of a log with no coordination event."""
