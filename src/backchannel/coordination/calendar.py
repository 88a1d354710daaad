"""Shared resources and their calendars: people, secure rooms and channels booked for time windows.

A :class:`Resource` has a capacity: a room or a secure channel holds one
session at a time; a person has an **attention budget**, the number of
high-priority sessions they can sit in at once. A :class:`Booking` asks for a
resource over ``[start, end)``.

:meth:`Calendars.book` accepts a booking that keeps every instant of its window
within capacity. Otherwise it is refused, or queued (``queue=True``), and the
result names the holders in the way (:class:`BookingResult`). A queued booking
waits on those holders; :meth:`Calendars.cancel` frees the window and promotes
the queued bookings that now fit, highest priority first, then earliest start.
A person at capacity at some instant is **saturated** then.

The rule the Hypothesis tests pin: no instant of any resource is ever held by
more accepted bookings than its capacity.

This module is pure: no I/O, no clock reads (times come in as arguments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from backchannel.errors import ConfigurationError, ConflictError, NotFoundError

__all__ = ["Booking", "BookingResult", "BookingStatus", "Calendars", "Resource", "ResourceKind"]


class ResourceKind(StrEnum):
    """What a resource is."""

    PERSON = "person"
    ROOM = "room"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class Resource:
    """A shared resource; ``capacity`` is 1 for rooms and channels, the attention budget for a person."""

    resource_id: str
    kind: ResourceKind
    capacity: int = 1

    def __post_init__(self) -> None:
        """Refuse a capacity below 1 (fail closed)."""
        if self.capacity < 1:
            raise ConfigurationError(
                f"resource {self.resource_id}: capacity must be >= 1 (got {self.capacity})"
            )


@dataclass(frozen=True, slots=True)
class Booking:
    """``holder`` (a track's session or a meeting) asks for ``resource`` over ``[start, end)``."""

    booking_id: str
    resource: str
    holder: str
    start: datetime
    end: datetime
    priority: int = 0

    def __post_init__(self) -> None:
        """Refuse an empty or reversed window."""
        if not self.start < self.end:
            raise ConfigurationError(f"booking {self.booking_id}: start must be before end")

    def overlaps(self, other: Booking) -> bool:
        """Whether the two windows share an instant."""
        return self.start < other.end and other.start < self.end


class BookingStatus(StrEnum):
    """What became of a booking request."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class BookingResult:
    """The outcome of :meth:`Calendars.book`; ``blockers`` are the accepted bookings in the way."""

    booking: Booking
    status: BookingStatus
    blockers: tuple[Booking, ...] = ()

    def __bool__(self) -> bool:
        """True when the booking was accepted."""
        return self.status is BookingStatus.ACCEPTED

    def describe(self) -> str:
        """``"room:doha-3 is held by us-iran-nuclear (booking b1) from … to …"`` or the acceptance."""
        b = self.booking
        if self.status is BookingStatus.ACCEPTED:
            return f"{b.resource} booked for {b.holder} from {b.start.isoformat()} to {b.end.isoformat()}"
        held = ", ".join(
            f"{x.holder} (booking {x.booking_id}, {x.start.isoformat()} to {x.end.isoformat()})"
            for x in self.blockers
        )
        return f"{b.resource} is held by {held}: {b.holder}'s booking {b.booking_id} is {self.status}"


@dataclass(slots=True)
class Calendars:
    """Every resource's accepted and queued bookings.

    Each operation touches only the resource it books or frees: a queued
    booking can only be let in by its own resource (nothing else changes what
    is in its way), so :meth:`cancel` promotes from that resource's queue alone.
    """

    resources: dict[str, Resource] = field(default_factory=dict)
    _accepted: dict[str, list[Booking]] = field(default_factory=dict)
    _queued: dict[str, list[Booking]] = field(default_factory=dict)  # per resource, in arrival order
    _where: dict[str, str] = field(default_factory=dict)  # booking id -> its resource

    def add_resource(self, resource: Resource) -> None:
        """Declare a resource (again: its capacity may change only when that breaks no booking).

        Raises:
            ConflictError: the new capacity is below what is already booked.
        """
        known = self._accepted.setdefault(resource.resource_id, [])
        self._queued.setdefault(resource.resource_id, [])
        if (peak := _peak(known)) > resource.capacity:
            raise ConflictError(
                f"{resource.resource_id}: {peak} bookings overlap; capacity {resource.capacity} is too low"
            )
        self.resources[resource.resource_id] = resource

    def preview(self, booking: Booking, *, queue: bool = False) -> BookingResult:
        """What :meth:`book` would answer, changing nothing.

        Raises:
            NotFoundError: an unknown resource.
            ConflictError: a booking id used before.
        """
        self._resource(booking.resource)
        if booking.booking_id in self._where:
            raise ConflictError(f"booking {booking.booking_id} exists already")
        blockers = self._blockers(booking)
        if not blockers:
            return BookingResult(booking, BookingStatus.ACCEPTED)
        return BookingResult(booking, BookingStatus.QUEUED if queue else BookingStatus.REFUSED, blockers)

    def book(self, booking: Booking, *, queue: bool = False) -> BookingResult:
        """Accept ``booking`` if it fits its resource's capacity; else queue or refuse it, naming the holders.

        Raises:
            NotFoundError: an unknown resource.
            ConflictError: a booking id used before.
        """
        result = self.preview(booking, queue=queue)
        if result.status is BookingStatus.ACCEPTED:
            self._accepted[booking.resource].append(booking)
        elif result.status is BookingStatus.QUEUED:
            self._queued[booking.resource].append(booking)
        else:
            return result
        self._where[booking.booking_id] = booking.resource
        return result

    def cancel(self, booking_id: str) -> list[BookingResult]:
        """Release a booking (accepted or queued); return the queued bookings it let in.

        Raises:
            NotFoundError: no such booking.
        """
        resource = self.resource_of(booking_id)
        del self._where[booking_id]
        self._queued[resource] = [b for b in self._queued[resource] if b.booking_id != booking_id]
        self._accepted[resource] = [b for b in self._accepted[resource] if b.booking_id != booking_id]
        return self._promote(resource)

    def preview_cancel(self, booking_id: str) -> list[BookingResult]:
        """What :meth:`cancel` would let in, changing nothing (it copies the booking's resource only).

        Raises:
            NotFoundError: no such booking.
        """
        resource = self.resource_of(booking_id)
        scratch = Calendars(
            {resource: self.resources[resource]},
            {resource: list(self._accepted[resource])},
            {resource: list(self._queued[resource])},
            {booking_id: resource},
        )
        return scratch.cancel(booking_id)

    def resource_of(self, booking_id: str) -> str:
        """The resource a booking (accepted or queued) is for.

        Raises:
            NotFoundError: no such booking.
        """
        resource = self._where.get(booking_id)
        if resource is None:
            raise NotFoundError(f"no booking {booking_id}")
        return resource

    def find(self, booking_id: str) -> tuple[Booking, BookingStatus]:
        """A booking and whether it is accepted or queued.

        Raises:
            NotFoundError: no such booking.
        """
        resource = self.resource_of(booking_id)
        held = [b for b in self._accepted[resource] if b.booking_id == booking_id]
        if held:
            return held[0], BookingStatus.ACCEPTED
        return next(b for b in self._queued[resource] if b.booking_id == booking_id), BookingStatus.QUEUED

    def accepted(self, resource: str) -> list[Booking]:
        """A resource's accepted bookings, by start time."""
        return sorted(self._accepted.get(resource, []), key=lambda b: (b.start, b.booking_id))

    def queued(self) -> list[Booking]:
        """Every queued booking, in promotion order."""
        return sorted((b for q in self._queued.values() for b in q), key=_queue_order)

    def queued_on(self, resource: str) -> list[Booking]:
        """A resource's queued bookings, in the order they arrived."""
        return list(self._queued.get(resource, []))

    def waiting_on(self, booking: Booking) -> tuple[Booking, ...]:
        """The accepted bookings a queued one waits on (empty if it would fit now)."""
        return self._blockers(booking)

    def load(self, resource: str, at: datetime) -> int:
        """How many accepted bookings hold ``resource`` at the instant ``at``."""
        return sum(1 for b in self._accepted.get(resource, []) if b.start <= at < b.end)

    def saturated(self, resource: str, at: datetime) -> bool:
        """Whether ``resource`` is at capacity at ``at`` (a person: the attention budget is spent)."""
        return self.load(resource, at) >= self._resource(resource).capacity

    # --- internals --------------------------------------------------------------------------
    def _resource(self, resource_id: str) -> Resource:
        resource = self.resources.get(resource_id)
        if resource is None:
            raise NotFoundError(f"unknown resource {resource_id!r}")
        return resource

    def _blockers(self, booking: Booking) -> tuple[Booking, ...]:
        """The accepted bookings in the way when ``booking`` would exceed capacity at some instant."""
        overlapping = [b for b in self._accepted[booking.resource] if b.overlaps(booking)]
        if _peak([*overlapping, booking]) <= self._resource(booking.resource).capacity:
            return ()
        return tuple(sorted(overlapping, key=lambda b: (b.start, b.booking_id)))

    def _promote(self, resource: str) -> list[BookingResult]:
        """Accept every queued booking of ``resource`` that now fits, in promotion order."""
        promoted: list[BookingResult] = []
        queue = self._queued[resource]
        for booking in sorted(queue, key=_queue_order):
            if not self._blockers(booking):
                queue.remove(booking)
                self._accepted[resource].append(booking)
                promoted.append(BookingResult(booking, BookingStatus.ACCEPTED))
        return promoted


def _queue_order(booking: Booking) -> tuple[int, datetime, str]:
    return (-booking.priority, booking.start, booking.booking_id)


def _peak(bookings: list[Booking]) -> int:
    """The most bookings that share one instant (a sweep over start and end points)."""
    points = sorted([(b.start, 1) for b in bookings] + [(b.end, -1) for b in bookings])
    peak = current = 0
    for _, step in points:  # at equal times, ends (-1) sort before starts (+1): [a, b) windows
        current += step
        peak = max(peak, current)
    return peak
