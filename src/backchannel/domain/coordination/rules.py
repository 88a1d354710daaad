"""Decisions of the coordination log, and who sees its events (ADR-0027, ADR-0028).

- Mediator principals and delegates declare and withdraw dependencies,
  register and book resources and cancel bookings; any other signer gets
  :class:`~backchannel.domain.errors.NotAuthorizedError` naming the rule.
- Only the mediator's service node records a dependency met, with the fact
  (track, log index, event type) it saw in the other track's log.
- A booking that does not fit its resource is refused with
  :class:`~backchannel.domain.coordination.book.ResourceBusyError` naming the
  holders, or queued if the command asks (the calendar's rule: never double-booked).
- After every command, the wait-for graph of the book it leaves (kept up to
  date event by event, ADR-0053) is compared with the deadlocks open before: a cycle that formed gets a
  ``coordination.deadlock_detected`` (its text, nodes and suggested
  resolutions), one that is gone a ``coordination.deadlock_resolved``.

**Visibility.** A coordination log is the mediator's: :func:`mediator_only`
shows no delegation or inspector any of its events (the mediator's own
members see every event of a track, witnesses none).

This module does not read a clock or any other track: the service brings the facts.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce

from backchannel.coordination.calendar import Booking, BookingStatus
from backchannel.coordination.resolve import suggest
from backchannel.domain._event_base import Event
from backchannel.domain._rules import require, stamp
from backchannel.domain.command_envelope import Command
from backchannel.domain.coordination.book import (
    CoordinationBook,
    CoordinationStateError,
    DependencyRecord,
    DependencyStatus,
    ResourceBusyError,
    UnknownBookingError,
    UnknownDependencyError,
    UnknownResourceError,
    deadlock_id,
)
from backchannel.domain.coordination.commands import (
    BookResource,
    CancelBooking,
    DeclareDependency,
    RecordDependencyMet,
    RegisterResource,
    WithdrawDependency,
)
from backchannel.domain.coordination.events import (
    BookingCancelled,
    CoordinationEvent,
    DeadlockDetected,
    DeadlockResolved,
    DependencyDeclared,
    DependencyMet,
    DependencyWithdrawn,
    ResourceBooked,
    ResourceRegistered,
)
from backchannel.domain.ids import PartyKind, Role
from backchannel.domain.state import TrackState

__all__ = [
    "book_resource",
    "cancel_booking",
    "declare_dependency",
    "mediator_only",
    "record_dependency_met",
    "register_resource",
    "withdraw_dependency",
]

_MEDIATOR = (PartyKind.MEDIATOR,)
_STAFF = (Role.PRINCIPAL, Role.DELEGATE)


def mediator_only(state: TrackState, party: str, event: Event) -> bool:
    """The visibility rule of the coordination log: no delegation or inspector party sees its events."""
    del state, party, event
    return False


def declare_dependency(state: TrackState, command: DeclareDependency, now: datetime) -> list[Event]:
    """``coordination.dependency_declared`` (and a deadlock, if the wait closes a cycle).

    Raises:
        NotAuthorizedError: not a mediator principal or delegate.
        CoordinationStateError: the dependency id was used before.
    """
    require(state, command.member, _MEDIATOR, _STAFF, "declare a dependency")
    if command.dependency_id in state.coordination.dependencies:
        raise CoordinationStateError(f"dependency {command.dependency_id} was declared already")
    declared = DependencyDeclared(
        **stamp(command, now),
        dependency_id=command.dependency_id,
        waiter=command.waiter,
        on_track=command.on_track,
        kind=command.kind,
        ref=command.ref,
    )
    return _with_deadlocks(state.coordination, command, now, [declared])


def withdraw_dependency(state: TrackState, command: WithdrawDependency, now: datetime) -> list[Event]:
    """``coordination.dependency_withdrawn`` (phasing); resolves the deadlocks its wait was on.

    Raises:
        NotAuthorizedError: not a mediator principal or delegate.
        UnknownDependencyError: no such dependency.
        CoordinationStateError: it was met or withdrawn already.
    """
    require(state, command.member, _MEDIATOR, _STAFF, "withdraw a dependency")
    _waiting(state.coordination, command.dependency_id)
    withdrawn = DependencyWithdrawn(
        **stamp(command, now), dependency_id=command.dependency_id, reason=command.reason
    )
    return _with_deadlocks(state.coordination, command, now, [withdrawn])


def record_dependency_met(state: TrackState, command: RecordDependencyMet, now: datetime) -> list[Event]:
    """``coordination.dependency_met``, from the service's view of the other track's log.

    Raises:
        NotAuthorizedError: not the mediator's service node.
        UnknownDependencyError: no such dependency.
        CoordinationStateError: met or withdrawn already, or the evidence is
            not from its track or not its awaited event type.
    """
    require(state, command.member, _MEDIATOR, (Role.SERVICE,), "record a dependency met")
    dependency = _waiting(state.coordination, command.dependency_id)
    evidence = command.evidence
    if evidence.track != dependency.on_track:
        raise CoordinationStateError(
            f"dependency {dependency.dependency_id} waits on {dependency.on_track}, not {evidence.track}"
        )
    if evidence.event_type != dependency.kind.event_type:
        raise CoordinationStateError(
            f"dependency {dependency.dependency_id} waits for {dependency.kind.event_type}, "
            f"not {evidence.event_type}"
        )
    met = DependencyMet(**stamp(command, now), dependency_id=command.dependency_id, evidence=evidence)
    return _with_deadlocks(state.coordination, command, now, [met])


def register_resource(state: TrackState, command: RegisterResource, now: datetime) -> list[Event]:
    """``coordination.resource_registered``.

    Raises:
        NotAuthorizedError: not a mediator principal or delegate.
        CoordinationStateError: the resource was registered already.
    """
    require(state, command.member, _MEDIATOR, _STAFF, "register a resource")
    if command.resource_id in state.coordination.resources:
        raise CoordinationStateError(f"resource {command.resource_id} was registered already")
    return [
        ResourceRegistered(
            **stamp(command, now),
            resource_id=command.resource_id,
            kind=command.kind,
            capacity=command.capacity,
        )
    ]


def book_resource(state: TrackState, command: BookResource, now: datetime) -> list[Event]:
    """``coordination.resource_booked``, accepted or queued (and a deadlock, if the queue closes a cycle).

    Raises:
        NotAuthorizedError: not a mediator principal or delegate.
        UnknownResourceError: no such resource.
        CoordinationStateError: the booking id is held or queued already.
        ResourceBusyError: it does not fit and ``queue`` is false (names the holders).
    """
    require(state, command.member, _MEDIATOR, _STAFF, "book a resource")
    book = state.coordination
    if command.resource not in book.resources:
        raise UnknownResourceError(f"no resource {command.resource!r} in {state.track}")
    if command.booking_id in book.bookings:
        raise CoordinationStateError(f"booking {command.booking_id} exists already")
    booking = Booking(
        command.booking_id, command.resource, command.holder, command.start, command.end, command.priority
    )
    result = book.live().calendars.preview(booking, queue=command.queue)
    if result.status is BookingStatus.REFUSED:
        raise ResourceBusyError(result.describe())
    booked = ResourceBooked(
        **stamp(command, now),
        booking_id=booking.booking_id,
        resource=booking.resource,
        holder=booking.holder,
        start=booking.start,
        end=booking.end,
        priority=booking.priority,
        status=result.status,
        blockers=tuple(b.booking_id for b in result.blockers),
    )
    return _with_deadlocks(book, command, now, [booked])


def cancel_booking(state: TrackState, command: CancelBooking, now: datetime) -> list[Event]:
    """``coordination.booking_cancelled`` with the queued bookings it lets in (and resolved deadlocks).

    Raises:
        NotAuthorizedError: not a mediator principal or delegate.
        UnknownBookingError: no such booking is held or queued.
    """
    require(state, command.member, _MEDIATOR, _STAFF, "cancel a booking")
    book = state.coordination
    if command.booking_id not in book.bookings:
        raise UnknownBookingError(f"no booking {command.booking_id!r} in {state.track}")
    promoted = book.live().calendars.preview_cancel(command.booking_id)
    cancelled = BookingCancelled(
        **stamp(command, now),
        booking_id=command.booking_id,
        promoted=tuple(r.booking.booking_id for r in promoted),
    )
    return _with_deadlocks(book, command, now, [cancelled])


def _waiting(book: CoordinationBook, dependency_id: str) -> DependencyRecord:
    dependency = book.dependencies.get(dependency_id)
    if dependency is None:
        raise UnknownDependencyError(f"no dependency {dependency_id!r} was declared")
    if dependency.status is not DependencyStatus.WAITING:
        raise CoordinationStateError(f"dependency {dependency_id} is {dependency.status} already")
    return dependency


def _with_deadlocks(
    book: CoordinationBook, command: Command, now: datetime, events: list[CoordinationEvent]
) -> list[Event]:
    """``events``, then a detection for each cycle they close and a resolution for each they break.

    The events are applied to the book to see the graph they leave (its live
    graph, changed in place: the fold applying them for good gets that book back).
    """
    done: list[Event] = list(events)
    after = reduce(CoordinationBook.apply, events, book)
    cycles = {deadlock_id(c): c for c in after.live().graph.deadlocks()}
    for key in sorted(set(cycles) - set(book.deadlocks)):
        cycle = cycles[key]
        done.append(
            DeadlockDetected(
                **stamp(command, now),
                deadlock_id=key,
                cycle=cycle.describe(),
                nodes=cycle.nodes,
                suggestions=tuple(s.text for s in suggest(cycle)),
            )
        )
    done += [
        DeadlockResolved(**stamp(command, now), deadlock_id=key)
        for key in sorted(set(book.deadlocks) - set(cycles))
    ]
    return done
