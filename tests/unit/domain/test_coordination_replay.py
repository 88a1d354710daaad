"""Hypothesis: the coordination log's state is the replay of its events, and never double-books.

Random runs of coordination commands (some refused) are decided and applied one
by one; then

- folding the logged events from scratch gives the same book;
- each dependency's status is what its own events say (declared, then met or withdrawn);
- each booking's status is what a plain :class:`Calendars` driven by the same
  accepted bookings and cancellations says, and no resource is held beyond
  its capacity at any instant;
- the open deadlocks are exactly the cycles of the book's wait-for graph.
"""

import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st
from track_world import World, populate

from backchannel.coordination.calendar import Booking, BookingStatus, Calendars, Resource, ResourceKind
from backchannel.domain import fold
from backchannel.domain.coordination.book import CoordinationBook, DependencyStatus, deadlock_id
from backchannel.domain.coordination.commands import (
    BookResource,
    CancelBooking,
    DeclareDependency,
    DependencyKind,
    Evidence,
    RecordDependencyMet,
    RegisterResource,
    WithdrawDependency,
)
from backchannel.domain.coordination.events import (
    BookingCancelled,
    DependencyDeclared,
    DependencyMet,
    DependencyWithdrawn,
    ResourceBooked,
    ResourceRegistered,
)
from backchannel.errors import DomainError

H = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NODES = ("t1", "t2", "t3", "t1#phase-2")
RESOURCES = ("person:a", "room:b")
IDS = ("x1", "x2", "x3", "x4", "x5", "x6")

register = st.tuples(st.just("register"), st.sampled_from(RESOURCES), st.integers(1, 2))
book = st.tuples(
    st.just("book"),
    st.sampled_from(IDS),
    st.sampled_from(RESOURCES),
    st.sampled_from(NODES[:3]),
    st.integers(0, 5),
    st.integers(1, 3),
    st.integers(0, 3),
    st.booleans(),
)
cancel = st.tuples(st.just("cancel"), st.sampled_from(IDS))
declare = st.tuples(
    st.just("declare"), st.sampled_from(IDS), st.sampled_from(NODES), st.sampled_from(NODES[:3])
)
withdraw = st.tuples(st.just("withdraw"), st.sampled_from(IDS))
met = st.tuples(st.just("met"), st.sampled_from(IDS), st.sampled_from(NODES[:3]))
steps = st.lists(st.one_of(register, book, cancel, declare, withdraw, met), max_size=30)


def _command(w: World, step: tuple) -> object:
    match step:
        case ("register", resource, capacity):
            return w.cmd(
                RegisterResource,
                "med/chair",
                resource_id=resource,
                kind=ResourceKind.PERSON,
                capacity=capacity,
            )
        case ("book", booking_id, resource, holder, start, length, priority, queue):
            return w.cmd(
                BookResource,
                "med/staff",
                booking_id=booking_id,
                resource=resource,
                holder=holder,
                start=H + timedelta(hours=start),
                end=H + timedelta(hours=start + length),
                priority=priority,
                queue=queue,
            )
        case ("cancel", booking_id):
            return w.cmd(CancelBooking, "med/chair", booking_id=booking_id)
        case ("declare", dependency_id, waiter, on_track):
            return w.cmd(
                DeclareDependency,
                "med/chair",
                dependency_id=dependency_id,
                waiter=waiter,
                on_track=on_track,
                kind=DependencyKind.DEAL_COMMITTED,
                ref="deal-1",
            )
        case ("withdraw", dependency_id):
            return w.cmd(WithdrawDependency, "med/chair", dependency_id=dependency_id, reason="phased")
        case _:
            _, dependency_id, track = step
            evidence = Evidence(track, 7, "deal.committed")
            return w.cmd(RecordDependencyMet, "med/service", dependency_id=dependency_id, evidence=evidence)


def _model_calendars(events: list) -> Calendars:
    """A plain Calendars driven by the logged registrations, bookings and cancellations."""
    calendars = Calendars()
    for event in events:
        match event:
            case ResourceRegistered():
                calendars.add_resource(Resource(event.resource_id, event.kind, event.capacity))
            case ResourceBooked():
                booking = Booking(
                    event.booking_id, event.resource, event.holder, event.start, event.end, event.priority
                )
                assert calendars.book(booking, queue=True).status is event.status
            case BookingCancelled():
                promoted = calendars.cancel(event.booking_id)
                assert tuple(r.booking.booking_id for r in promoted) == event.promoted
    return calendars


def _model_dependencies(events: list) -> dict[str, DependencyStatus]:
    statuses: dict[str, DependencyStatus] = {}
    for event in events:
        match event:
            case DependencyDeclared():
                statuses[event.dependency_id] = DependencyStatus.WAITING
            case DependencyMet():
                statuses[event.dependency_id] = DependencyStatus.MET
            case DependencyWithdrawn():
                statuses[event.dependency_id] = DependencyStatus.WITHDRAWN
    return statuses


@settings(max_examples=150, deadline=None)
@given(steps)
def test_the_coordination_state_is_the_replay_of_its_events(run: list[tuple]) -> None:
    w = populate(World())
    start = len(w.events)
    for step in run:
        try:
            w.run(_command(w, step))
        except DomainError:
            continue
    book_ = w.s.coordination
    assert fold(w.events).coordination == book_
    ours = w.events[start:]
    statuses = _model_dependencies(ours)
    assert {k: d.status for k, d in book_.dependencies.items()} == statuses
    model = _model_calendars(ours)
    for resource in book_.resources:
        held = {b.booking_id for b in model.accepted(resource)}
        assert held == {
            k
            for k, r in book_.bookings.items()
            if r.status is BookingStatus.ACCEPTED and r.booking.resource == resource
        }
        for b in model.accepted(resource):
            assert model.load(resource, b.start) <= book_.resources[resource].capacity
    assert {b.booking_id for b in model.queued()} == {
        k for k, r in book_.bookings.items() if r.status is BookingStatus.QUEUED
    }
    assert set(book_.deadlocks) == {deadlock_id(c) for c in book_.graph().deadlocks()}


def _edges(book_: CoordinationBook) -> set[tuple[str, str]]:
    """The wait-for edges the book's maps call for: waiting dependencies, queued bookings' waits."""
    edges = {
        (d.waiter, d.on_track) for d in book_.dependencies.values() if d.status is DependencyStatus.WAITING
    }
    calendars = book_.calendars()
    for queued in calendars.queued():
        edges |= {
            (queued.holder, h.holder) for h in calendars.waiting_on(queued) if h.holder != queued.holder
        }
    return edges


def _causes(book_: CoordinationBook) -> dict[tuple[str, str], int]:
    """How many causes each wait has: waiting dependencies, and queued bookings (once per holder pair)."""
    counts: Counter[tuple[str, str]] = Counter(
        (d.waiter, d.on_track) for d in book_.dependencies.values() if d.status is DependencyStatus.WAITING
    )
    calendars = book_.calendars()
    for queued in calendars.queued():
        counts.update(
            {(queued.holder, h.holder) for h in calendars.waiting_on(queued) if h.holder != queued.holder}
        )
    return dict(counts)


def _has_cycle(edges: set[tuple[str, str]]) -> bool:
    """Brute force: strip nodes that wait on nothing until nothing changes; a cycle is what remains."""
    remaining = set(edges)
    while True:
        stripped = {(a, b) for a, b in remaining if any(b == c for c, _ in remaining)}
        if stripped == remaining:
            return bool(remaining)
        remaining = stripped


def _live_view(book_: CoordinationBook) -> tuple[object, ...]:
    live = book_.live()
    nodes = sorted({n for w in live.graph.waits() for n in (w.waiter, w.holder)})
    return (
        list(live.graph.waits()),
        live.graph.deadlocks(),
        [live.graph.position(n) for n in nodes],
        {r: live.calendars.accepted(r) for r in sorted(live.calendars.resources)},
        live.calendars.queued(),
    )


BOOKINGS = tuple(f"b{i}" for i in range(8))
HOLDERS = (*NODES[:3], "t4", "t5", "t6")
DEPENDENCIES = tuple(f"d{i}" for i in range(6))
busy = st.lists(
    st.one_of(
        st.tuples(
            st.just("book"),
            st.sampled_from(BOOKINGS),
            st.sampled_from(RESOURCES),
            st.sampled_from(HOLDERS),
            st.integers(0, 3),
            st.integers(1, 3),
            st.integers(0, 3),
            st.sampled_from([True, True, False]),
        ),
        st.tuples(st.just("cancel"), st.sampled_from(BOOKINGS)),
        st.tuples(
            st.just("declare"),
            st.sampled_from(DEPENDENCIES),
            st.sampled_from(NODES),
            st.sampled_from(NODES[:3]),
        ),
        st.tuples(st.just("withdraw"), st.sampled_from(DEPENDENCIES)),
        st.tuples(st.just("met"), st.sampled_from(DEPENDENCIES), st.sampled_from(NODES[:3])),
    ),
    min_size=10,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(busy, st.sets(st.integers(0, 39), max_size=6), st.sets(st.integers(0, 39), max_size=4))
@example(  # a queued booking between two holds: one is cancelled, it still waits on the other
    [
        ("book", "b0", "person:a", "t1", 0, 2, 0, False),
        ("book", "b1", "person:a", "t2", 2, 2, 0, False),
        ("book", "b2", "person:a", "t3", 1, 2, 0, True),
        ("cancel", "b0"),
        ("cancel", "b1"),
    ],
    set(),
    set(),
)
@example(  # the hold is cancelled: the queued booking is promoted and stops waiting
    [
        ("book", "b0", "person:a", "t1", 0, 2, 0, False),
        ("book", "b1", "person:a", "t2", 1, 2, 0, True),
        ("book", "b2", "person:a", "t4", 1, 1, 0, True),
        ("cancel", "b0"),
    ],
    {3},
    {3},
)
def test_the_incremental_state_equals_the_replay_of_the_events(
    run: list[tuple], abandoned: set[int], reread: set[int]
) -> None:
    """ADR-0053: the calendars and graph kept event by event are those a replay of the log builds.

    Some decisions are abandoned (decided, never applied) and some older books
    are read again (they rebuild their own structures): neither may change the
    live ones.
    """
    w = populate(World())
    older: list[CoordinationBook] = []
    for resource in RESOURCES:  # registered first, so that most bookings are decided
        w.run(_command(w, ("register", resource, 1)))
    for i, step in enumerate(run):
        command = _command(w, step)
        if i in abandoned:
            with contextlib.suppress(DomainError):
                w.decide(command)  # decided, then dropped: nothing is applied
        if i in reread and older:
            older[len(older) // 2].graph()
        older.append(w.s.coordination)
        try:
            w.run(command)
        except DomainError:
            continue
        book_ = w.s.coordination
        assert set(book_.deadlocks) == {deadlock_id(c) for c in book_.graph().deadlocks()}
        assert {(x.waiter, x.holder) for x in book_.graph().waits()} == _edges(book_)
        assert book_.live()._counts == _causes(book_)
    book_ = w.s.coordination
    replayed = fold(w.events).coordination
    assert replayed == book_
    assert _live_view(replayed) == _live_view(book_)
    edges = _edges(book_)
    assert {(x.waiter, x.holder) for x in book_.graph().waits()} == edges
    assert bool(book_.graph().deadlocks()) == _has_cycle(edges)
    for resource in book_.resources:
        assert book_.live().calendars.accepted(resource) == book_.calendars().accepted(resource)
    assert book_.live().calendars.queued() == book_.calendars().queued()
