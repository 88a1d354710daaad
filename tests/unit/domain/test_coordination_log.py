"""The coordination log (issue #12, ADR-0027): dependencies, bookings, deadlocks as decided and folded."""

from datetime import UTC, datetime, timedelta

import pytest
from track_world import World

from backchannel.coordination.calendar import BookingStatus, ResourceKind
from backchannel.domain import fold, visible_to
from backchannel.domain._codec_base import LOG_STYLE, At
from backchannel.domain.coordination.book import (
    CoordinationStateError,
    DependencyStatus,
    ResourceBusyError,
    UnknownBookingError,
    UnknownDependencyError,
    UnknownResourceError,
)
from backchannel.domain.coordination.commands import (
    FLAG,
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
    DeadlockDetected,
    DeadlockResolved,
    DependencyMet,
    ResourceBooked,
)
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError
from backchannel.domain.events import event_from_dict
from backchannel.errors import EncodingError
from backchannel.protocol._wire_codec import command_body, read_body

IRAN = "us-iran-nuclear"
CEASEFIRE = "israel-hezbollah-ceasefire"
H = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def declare(
    w: World, dependency_id: str = "d1", waiter: str = IRAN, by: str = "med/chair", **kw: object
) -> list:
    fields = {"on_track": CEASEFIRE, "kind": DependencyKind.DEAL_COMMITTED, "ref": "ceasefire-1", **kw}
    return w.run(w.cmd(DeclareDependency, by, dependency_id=dependency_id, waiter=waiter, **fields))


def register(
    w: World, resource_id: str = "person:usa/principal", capacity: int = 1, by: str = "med/chair"
) -> list:
    return w.run(
        w.cmd(RegisterResource, by, resource_id=resource_id, kind=ResourceKind.PERSON, capacity=capacity)
    )


def book(w: World, booking_id: str, holder: str, hours: tuple[int, int] = (0, 2), **kw: object) -> list:
    fields = {"resource": "person:usa/principal", "priority": 1, "queue": False, **kw}
    start, end = (H + timedelta(hours=h) for h in hours)
    return w.run(
        w.cmd(BookResource, "med/staff", booking_id=booking_id, holder=holder, start=start, end=end, **fields)
    )


def met(
    w: World, dependency_id: str = "d1", track: str = CEASEFIRE, event_type: str = "deal.committed"
) -> list:
    evidence = Evidence(track, 42, event_type)
    return w.run(w.cmd(RecordDependencyMet, "med/service", dependency_id=dependency_id, evidence=evidence))


def deadlock(w: World) -> DeadlockDetected:
    """The issue's story: Iran waits on the ceasefire deal, the ceasefire meeting on Iran's hold of a person."""
    declare(w)
    register(w)
    book(w, "b1", IRAN)
    events = book(w, "b2", CEASEFIRE, queue=True, priority=5)
    assert isinstance(events[0], ResourceBooked)
    assert events[0].status is BookingStatus.QUEUED
    assert events[0].blockers == ("b1",)
    found = events[1]
    assert isinstance(found, DeadlockDetected)
    return found


def test_a_dependency_blocks_its_waiter_with_the_reason(world: World) -> None:
    declare(world)
    declare(world, "d2", f"{IRAN}#phase-2", kind=DependencyKind.ESCROW_RELEASED, ref="e1")
    declare(world, "d3", "meeting:doha-3", kind=DependencyKind.COMMITMENT_REVEALED, ref="c1")
    blocked = world.s.coordination.blocked(IRAN)
    assert [d.dependency_id for d in blocked] == ["d1", "d2"]
    assert blocked[0].describe() == f"needs {CEASEFIRE}'s deal ceasefire-1 committed"
    assert blocked[1].describe() == f"needs {CEASEFIRE}'s escrow e1 released"
    assert world.s.coordination.blocked("meeting:doha-3")[0].describe().endswith("commitment c1 revealed")
    assert world.s.coordination.blocked(CEASEFIRE) == []
    with pytest.raises(CoordinationStateError, match="dependency d1 was declared already"):
        declare(world)


@pytest.mark.parametrize("member", ["iran/lead", "usa/aide", "med/obs", "iaea/lead", "med/service"])
def test_only_mediator_staff_run_the_log(world: World, member: str) -> None:
    with pytest.raises(
        NotAuthorizedError, match="may not declare a dependency: only a delegate or principal"
    ):
        declare(world, by=member)
    with pytest.raises(NotAuthorizedError, match="may not register a resource"):
        register(world, by=member)


def test_only_the_service_records_a_dependency_met(world: World) -> None:
    declare(world)
    with pytest.raises(NotAuthorizedError, match="may not record a dependency met: only a service"):
        world.run(
            world.cmd(
                RecordDependencyMet,
                "med/chair",
                dependency_id="d1",
                evidence=Evidence(CEASEFIRE, 1, "deal.committed"),
            )
        )
    with pytest.raises(UnknownDependencyError, match="no dependency 'nope'"):
        met(world, "nope")
    with pytest.raises(CoordinationStateError, match=f"waits on {CEASEFIRE}, not other"):
        met(world, track="other")
    with pytest.raises(CoordinationStateError, match="waits for deal.committed, not escrow.released"):
        met(world, event_type="escrow.released")
    (event,) = met(world)
    assert isinstance(event, DependencyMet)
    record = world.s.coordination.dependencies["d1"]
    assert record.status is DependencyStatus.MET
    assert record.evidence == Evidence(CEASEFIRE, 42, "deal.committed")
    assert world.s.coordination.blocked(IRAN) == []
    with pytest.raises(CoordinationStateError, match="dependency d1 is met already"):
        met(world)


def test_a_withdrawn_dependency_cannot_be_met(world: World) -> None:
    declare(world)
    world.run(world.cmd(WithdrawDependency, "med/staff", dependency_id="d1", reason="phased"))
    assert world.s.coordination.dependencies["d1"].reason == "phased"
    with pytest.raises(CoordinationStateError, match="is withdrawn already"):
        met(world)


def test_bookings_never_double_book_and_name_the_holder(world: World) -> None:
    register(world)
    with pytest.raises(CoordinationStateError, match="resource person:usa/principal was registered already"):
        register(world)
    (accepted,) = book(world, "b1", IRAN)
    assert accepted.status is BookingStatus.ACCEPTED
    with pytest.raises(ResourceBusyError, match=rf"held by {IRAN} \(booking b1"):
        book(world, "b2", "meeting:ceasefire-1", hours=(1, 3))
    assert "b2" not in world.s.coordination.bookings
    with pytest.raises(CoordinationStateError, match="booking b1 exists already"):
        book(world, "b1", IRAN, hours=(5, 6))
    with pytest.raises(UnknownResourceError, match="no resource 'room:doha-3'"):
        book(world, "b3", IRAN, resource="room:doha-3")
    (queued,) = book(world, "b2", "meeting:ceasefire-1", hours=(1, 3), queue=True)
    assert queued.status is BookingStatus.QUEUED
    (later,) = book(world, "b4", IRAN, hours=(4, 5))
    assert later.status is BookingStatus.ACCEPTED
    (cancelled,) = world.run(world.cmd(CancelBooking, "med/chair", booking_id="b1"))
    assert cancelled.promoted == ("b2",)
    assert world.s.coordination.bookings["b2"].status is BookingStatus.ACCEPTED
    with pytest.raises(UnknownBookingError, match="no booking 'b1'"):
        world.run(world.cmd(CancelBooking, "med/chair", booking_id="b1"))


def test_cancelling_a_queued_booking_leaves_the_holder_and_frees_the_queue(world: World) -> None:
    register(world)
    book(world, "b1", IRAN)
    (queued,) = book(world, "b2", "meeting:ceasefire-1", hours=(1, 3), queue=True)
    assert queued.status is BookingStatus.QUEUED
    waits = {(w.waiter, w.holder) for w in world.s.coordination.graph().waits()}
    assert ("meeting:ceasefire-1", IRAN) in waits
    (cancelled,) = world.run(world.cmd(CancelBooking, "med/chair", booking_id="b2"))
    assert cancelled.promoted == ()
    assert "b2" not in world.s.coordination.bookings
    assert world.s.coordination.bookings["b1"].status is BookingStatus.ACCEPTED
    assert ("meeting:ceasefire-1", IRAN) not in {
        (w.waiter, w.holder) for w in world.s.coordination.graph().waits()
    }


def test_a_queued_booking_behind_its_own_holder_is_no_deadlock(world: World) -> None:
    register(world)
    book(world, "b1", IRAN)
    assert len(book(world, "b2", IRAN, queue=True)) == 1
    assert world.s.coordination.graph().deadlocks() == []


def test_a_deadlock_is_named_by_its_cycle_with_suggestions(world: World) -> None:
    found = deadlock(world)
    assert found.cycle == (
        f"{CEASEFIRE} waits on {IRAN} (needs person:usa/principal, held by {IRAN} (booking b1)); "
        f"{IRAN} waits on {CEASEFIRE} (needs {CEASEFIRE}'s deal ceasefire-1 committed)"
    )
    assert set(found.nodes) == {IRAN, CEASEFIRE}
    assert found.deadlock_id == f"{CEASEFIRE} + {IRAN}"
    assert [s.split(":")[0] for s in found.suggestions] == [
        "preempt the lower-priority hold",
        "split into phases",
        "move the meeting",
    ]
    assert list(world.s.coordination.deadlocks) == [found.deadlock_id]


def test_phasing_resolves_the_deadlock_and_the_phase_stays_blocked(world: World) -> None:
    found = deadlock(world)
    withdrawn, resolved = world.run(
        world.cmd(WithdrawDependency, "med/chair", dependency_id="d1", reason="phased")
    )
    assert isinstance(resolved, DeadlockResolved)
    assert resolved.deadlock_id == found.deadlock_id
    assert len(world.s.coordination.deadlocks) == 0
    assert len(declare(world, "d2", f"{IRAN}#phase-2")) == 1  # no cycle through the phase
    assert [d.dependency_id for d in world.s.coordination.blocked(IRAN)] == ["d2"]
    met(world, "d2")
    assert world.s.coordination.blocked(IRAN) == []
    del withdrawn


def test_cancelling_the_hold_resolves_the_deadlock(world: World) -> None:
    deadlock(world)
    cancelled, resolved = world.run(world.cmd(CancelBooking, "med/chair", booking_id="b1"))
    assert cancelled.promoted == ("b2",)
    assert isinstance(resolved, DeadlockResolved)


def test_a_met_dependency_resolves_the_deadlock(world: World) -> None:
    deadlock(world)
    assert isinstance(met(world)[1], DeadlockResolved)


def test_the_log_is_the_mediators_alone(world: World) -> None:
    events = deadlock(world), *world.events[-4:]
    for event in events:
        for member in ("iran/lead", "usa/watch", "iaea/lead", "swiss/lead"):
            assert not visible_to(world.s, member, event)
        assert visible_to(world.s, "med/obs", event)


def test_events_round_trip_and_the_fold_replays_them(world: World) -> None:
    deadlock(world)
    world.run(world.cmd(CancelBooking, "med/chair", booking_id="b1"))
    met(world)
    for event in world.events:
        assert event_from_dict(event.to_dict()) == event
    assert fold(world.events).coordination == world.s.coordination


def test_an_older_book_rebuilds_its_own_graph_and_the_newer_keeps_its_own(world: World) -> None:
    """ADR-0053: one book owns the live structures; an older one, read again, rebuilds its own."""
    deadlock(world)
    older = world.s.coordination
    world.run(world.cmd(CancelBooking, "med/chair", booking_id="b1"))  # resolves the deadlock
    newer = world.s.coordination
    assert newer.graph().deadlocks() == []
    assert [c.nodes for c in older.graph().deadlocks()] == [(CEASEFIRE, IRAN)]  # rebuilt from its history
    assert newer.graph().deadlocks() == []  # untouched by the rebuild
    assert newer.live() is newer.live()  # owned: not rebuilt again
    assert newer.graph() is not newer.live().graph  # a reader's private copy
    assert {b.booking_id for b in older.calendars().queued()} == {"b2"}
    assert fold(world.events).coordination.graph().deadlocks() == []


def test_decisions_and_their_fold_evolve_one_live_structure(world: World) -> None:
    """ADR-0053: deciding a command, then folding its events, changes the live structures in place."""
    declare(world)
    register(world)
    live = world.s.coordination.live()
    book(world, "b1", IRAN)
    deadlock_events = book(world, "b2", CEASEFIRE, queue=True, priority=5)
    world.run(world.cmd(CancelBooking, "med/chair", booking_id="b1"))
    met(world)
    assert world.s.coordination.live() is live  # never rebuilt: each book handed it to the next
    assert live.graph.statistics().insertions == 2  # the dependency, then the queued booking's wait
    before = world.s.coordination
    trial = world.decide(
        world.cmd(
            BookResource, "med/staff", booking_id="b3", holder=IRAN, resource="person:usa/principal",
            start=H, end=H + timedelta(hours=1), priority=1, queue=True,
        )
    )  # fmt: skip
    after = before.apply(trial[0])
    assert before.apply(trial[0]) is after  # the same event on the same book: the same book
    assert after.live() is live  # the decision's trial took the structures along; before has none now
    noted = before.apply(deadlock_events[1])  # a deadlock event on a book that owns nothing: nothing moves
    assert noted.live() is not live
    assert [c.nodes for c in noted.graph().deadlocks()] == []  # rebuilt from its history: b1 is gone
    assert after.live() is live


def test_the_flag_codec_reads_only_booleans() -> None:
    at = At("body.queue", LOG_STYLE)
    assert FLAG.decode(True, at) is True
    assert FLAG.encode(False) is False
    with pytest.raises(EncodingError, match="body.queue: expected true or false, got 'yes'"):
        FLAG.decode("yes", at)


@pytest.mark.parametrize(
    ("command", "fields", "message"),
    [
        (
            DeclareDependency,
            {"dependency_id": "", "waiter": IRAN, "on_track": "X!", "kind": "deal_committed", "ref": "r"},
            "dependency_id: expected",
        ),
        (WithdrawDependency, {"dependency_id": "d1", "reason": ""}, "reason: expected 1 to 500"),
        (
            RegisterResource,
            {"resource_id": "room:1", "kind": ResourceKind.ROOM, "capacity": 0},
            "capacity: expected an integer from 1",
        ),
        (
            BookResource,
            {"booking_id": "b", "resource": "r", "holder": "h", "start": H, "end": H, "priority": 1},
            "end: must be after start",
        ),
        (
            BookResource,
            {
                "booking_id": "b",
                "resource": "r",
                "holder": "h",
                "start": H,
                "end": H + timedelta(1),
                "priority": -1,
            },
            "priority: expected",
        ),
        (CancelBooking, {"booking_id": "no spaces"}, "booking_id: expected"),
        (RecordDependencyMet, {"dependency_id": "d1", "evidence": "x"}, "evidence: expected Evidence"),
        (
            RecordDependencyMet,
            {"dependency_id": "d1", "evidence": Evidence("t", -1, "deal.voted")},
            "evidence.log_index",
        ),
    ],
)
def test_malformed_commands_are_refused_naming_the_field(
    world: World, command: type, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(SchemaViolationError, match=message):
        world.cmd(command, "med/chair", **fields)


def test_evidence_must_name_an_outcome_event(world: World) -> None:
    with pytest.raises(SchemaViolationError, match="evidence.event_type: not an outcome"):
        world.cmd(
            RecordDependencyMet, "med/service", dependency_id="d1", evidence=Evidence("t", 1, "deal.voted")
        )


def test_command_bodies_round_trip_on_the_wire(world: World) -> None:
    commands = [
        world.cmd(
            DeclareDependency,
            "med/chair",
            dependency_id="d1",
            waiter=IRAN,
            on_track=CEASEFIRE,
            kind=DependencyKind.DEAL_COMMITTED,
            ref="c-1",
        ),
        world.cmd(WithdrawDependency, "med/chair", dependency_id="d1", reason="phased"),
        world.cmd(
            RegisterResource, "med/chair", resource_id="room:doha-3", kind=ResourceKind.ROOM, capacity=1
        ),
        world.cmd(
            BookResource,
            "med/chair",
            booking_id="b1",
            resource="room:doha-3",
            holder=IRAN,
            start=H,
            end=H + timedelta(hours=1),
            priority=2,
            queue=True,
        ),
        world.cmd(CancelBooking, "med/chair", booking_id="b1"),
        world.cmd(
            RecordDependencyMet,
            "med/service",
            dependency_id="d1",
            evidence=Evidence(CEASEFIRE, 9, "deal.committed"),
        ),
    ]
    for command in commands:
        envelope = {
            name: getattr(command, name)
            for name in ("track", "member", "key_id", "issued_at", "digest", "idempotency_key")
        }
        body = command_body(command)
        assert read_body(type(command), body, envelope) == command
    assert command_body(commands[3])["queue"] is True
    assert command_body(commands[5])["evidence"] == {
        "track": CEASEFIRE,
        "log_index": 9,
        "event_type": "deal.committed",
    }
