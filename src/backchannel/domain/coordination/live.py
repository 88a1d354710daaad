"""The coordination log's calendars and wait-for graph, kept up to date event by event (ADR-0053).

A :class:`~backchannel.domain.coordination.book.CoordinationBook` is immutable;
its calendars and wait-for graph are not: rebuilding them for each decision
costs time linear in the log. So each book carries a :class:`LiveCoordination`,
the mutable calendars and graph as its events left them, which **one** book
owns at a time. Applying an event to the owner changes the structures in
place (a constant amount of work, plus the bookings of the one resource it
touches) and hands them to the new book. A book that no longer owns them (an
older state, read again after a newer one was made from it) rebuilds its own
from its :class:`History`, the structural events it was folded from, in order,
through the very same steps: so the structures are a function of the events
alone, whichever path built them, and a replay decides exactly as the live
service did.

The structures:

- the :class:`~backchannel.coordination.calendar.Calendars`, driven by the
  registrations, bookings and cancellations;
- the :class:`~backchannel.coordination.waitfor.WaitForGraph`, whose edges are
  the waiting dependencies (the waiter waits on the other track) and the
  queued bookings' waits (their holder waits on each holder in their way),
  counted, so that a wait two causes share leaves with the last of them.
  After a booking or a cancellation the waits of the queued bookings it can
  change are recomputed (a queued booking: its own; an accepted, cancelled or
  promoted one: those of its resource's queue that it overlaps), and only the
  differences reach the graph.

This module is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

from backchannel.coordination.calendar import Booking, BookingStatus, Calendars, Resource
from backchannel.coordination.waitfor import WaitForGraph, WaitKind
from backchannel.domain.coordination.events import (
    BookingCancelled,
    CoordinationEvent,
    DependencyDeclared,
    DependencyMet,
    DependencyWithdrawn,
    ResourceBooked,
    ResourceRegistered,
)


class DependencyRecord(Protocol):
    """What the structures read of a dependency (the book's record)."""

    @property
    def waiter(self) -> str: ...

    @property
    def on_track(self) -> str: ...

    def describe(self) -> str: ...


__all__ = ["History", "LiveCoordination", "structural"]

Pair = tuple[str, str]


Structural = (
    DependencyDeclared
    | DependencyMet
    | DependencyWithdrawn
    | ResourceRegistered
    | ResourceBooked
    | BookingCancelled
)
"""The events that change the calendars or the graph (a deadlock detected or resolved changes neither)."""


def structural(event: CoordinationEvent) -> TypeGuard[Structural]:
    """Whether ``event`` changes the calendars or the graph."""
    return isinstance(event, Structural)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class History:
    """The structural events a book was folded from: the last one, and the history before it.

    Compared and shown by identity: a field-wise comparison would recurse down the whole log.
    """

    event: Structural
    before: History | None

    def __iter__(self) -> Iterator[Structural]:
        """The events, first to last."""
        events: list[Structural] = []
        link: History | None = self
        while link is not None:
            events.append(link.event)
            link = link.before
        return reversed(events)


@dataclass(frozen=True, slots=True)
class _Wait:
    reason: str
    kind: WaitKind
    priority: int


@dataclass(slots=True)
class LiveCoordination:
    """The calendars and wait-for graph of one book (see the module docstring)."""

    calendars: Calendars = field(default_factory=Calendars)
    graph: WaitForGraph = field(default_factory=WaitForGraph)
    _counts: dict[Pair, int] = field(default_factory=dict)
    _booking_waits: dict[str, dict[str, dict[Pair, _Wait]]] = field(default_factory=dict)
    owner: object = None  # the cell of the book these structures belong to

    @classmethod
    def rebuild(
        cls, history: History | None, dependencies: Mapping[str, DependencyRecord]
    ) -> LiveCoordination:
        """The structures of a book with this ``history`` (``dependencies``: that book's)."""
        live = cls()
        for event in history or ():
            live.apply(event, dependencies)
        return live

    def apply(self, event: Structural, dependencies: Mapping[str, DependencyRecord]) -> None:
        """Change the structures for one event; ``dependencies`` must hold the ones it names."""
        match event:
            case DependencyDeclared():
                record = dependencies[event.dependency_id]
                self._hold((record.waiter, record.on_track), _Wait(record.describe(), WaitKind.DEPENDENCY, 0))
            case DependencyMet() | DependencyWithdrawn():
                record = dependencies[event.dependency_id]
                self._release((record.waiter, record.on_track))
            case ResourceRegistered():
                self.calendars.add_resource(Resource(event.resource_id, event.kind, event.capacity))
            case ResourceBooked():
                booking = Booking(
                    event.booking_id, event.resource, event.holder, event.start, event.end, event.priority
                )
                if self.calendars.book(booking, queue=True):  # accepted: it may stand in queued ones' way
                    self._rewait(event.resource, self._overlapping(event.resource, [booking]))
                else:  # queued: nothing else waits differently
                    self._rewait(event.resource, {event.booking_id})
            case _:  # the last kind, BookingCancelled (mypy checks the match is exhaustive)
                cancelled, status = self.calendars.find(event.booking_id)
                freed = [cancelled, *(r.booking for r in self.calendars.cancel(event.booking_id))]
                affected = {b.booking_id for b in freed}
                if status is BookingStatus.ACCEPTED:  # the promoted and those it freed room for
                    affected |= self._overlapping(cancelled.resource, freed)
                self._rewait(cancelled.resource, affected)

    def _overlapping(self, resource: str, bookings: list[Booking]) -> set[str]:
        """The queued bookings of ``resource`` that share an instant with one of ``bookings``."""
        return {
            q.booking_id for q in self.calendars.queued_on(resource) if any(q.overlaps(b) for b in bookings)
        }

    def _rewait(self, resource: str, affected: set[str]) -> None:
        """Recompute the waits of the ``affected`` bookings; pass only the differences to the graph.

        A queued booking's waits depend only on its resource's accepted
        bookings that overlap it: a booking accepted, cancelled or promoted
        changes only those of the queued bookings it overlaps.
        """
        known = self._booking_waits.setdefault(resource, {})
        queued = {q.booking_id: q for q in self.calendars.queued_on(resource) if q.booking_id in affected}
        for booking_id in sorted(affected):
            before = known.pop(booking_id, {})
            after = self._waits(queued[booking_id]) if booking_id in queued else {}
            for pair in (p for p in before if p not in after):
                self._release(pair)
            for pair, wait in ((p, w) for p, w in after.items() if p not in before):
                self._hold(pair, wait)
            if after:
                known[booking_id] = after
        if not known:
            del self._booking_waits[resource]

    def _waits(self, queued: Booking) -> dict[Pair, _Wait]:
        """A queued booking's waits: its holder waits on each other holder in its way."""
        waits: dict[Pair, _Wait] = {}
        for held in self.calendars.waiting_on(queued):
            if held.holder != queued.holder:
                reason = f"needs {queued.resource}, held by {held.holder} (booking {held.booking_id})"
                waits.setdefault(
                    (queued.holder, held.holder), _Wait(reason, WaitKind.BOOKING, queued.priority)
                )
        return waits

    def _hold(self, pair: Pair, wait: _Wait) -> None:
        """One more cause of ``pair``: the first puts the edge in the graph."""
        count = self._counts.get(pair, 0)
        self._counts[pair] = count + 1
        if count == 0:
            self.graph.add(*pair, wait.reason, kind=wait.kind, priority=wait.priority)

    def _release(self, pair: Pair) -> None:
        """One cause of ``pair`` fewer: the last takes the edge out of the graph."""
        count = self._counts.pop(pair) - 1
        if count:
            self._counts[pair] = count
        else:
            self.graph.remove(*pair)
