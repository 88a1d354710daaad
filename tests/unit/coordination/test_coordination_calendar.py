"""Calendars of shared resources: never double-booked, conflicts name their holders, queues promote."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.coordination.calendar import (
    Booking,
    BookingStatus,
    Calendars,
    Resource,
    ResourceKind,
    _peak,
)
from backchannel.errors import ConfigurationError, ConflictError, NotFoundError

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def world() -> Calendars:
    calendars = Calendars()
    calendars.add_resource(Resource("room:doha-3", ResourceKind.ROOM))
    calendars.add_resource(Resource("person:usa/principal", ResourceKind.PERSON, capacity=2))
    return calendars


def test_a_conflicting_booking_is_refused_naming_the_holder() -> None:
    calendars = world()
    first = calendars.book(Booking("b1", "room:doha-3", "us-iran-nuclear", at(0), at(2)))
    assert first
    assert first.describe().startswith("room:doha-3 booked for us-iran-nuclear")
    clash = calendars.book(Booking("b2", "room:doha-3", "ceasefire", at(1), at(3)))
    assert not clash
    assert clash.status is BookingStatus.REFUSED
    assert [b.booking_id for b in clash.blockers] == ["b1"]
    assert "room:doha-3 is held by us-iran-nuclear (booking b1" in clash.describe()
    assert calendars.book(Booking("b2", "room:doha-3", "ceasefire", at(2), at(3)))  # back to back is fine


def test_a_queued_booking_is_promoted_when_the_holder_releases() -> None:
    calendars = world()
    calendars.book(Booking("b1", "room:doha-3", "us-iran-nuclear", at(0), at(2)))
    low = calendars.book(Booking("low", "room:doha-3", "trade", at(1), at(2), priority=1), queue=True)
    high = calendars.book(Booking("high", "room:doha-3", "ceasefire", at(1), at(3), priority=5), queue=True)
    assert low.status is high.status is BookingStatus.QUEUED
    assert [b.booking_id for b in calendars.queued()] == ["high", "low"]
    assert calendars.waiting_on(high.booking) == (calendars.accepted("room:doha-3")[0],)
    promoted = calendars.cancel("b1")
    assert [r.booking.booking_id for r in promoted] == ["high"]  # priority first; low still overlaps it
    assert [b.booking_id for b in calendars.queued()] == ["low"]
    assert calendars.cancel("low") == []
    assert calendars.queued() == []


def test_find_names_a_booking_and_whether_it_is_accepted_or_queued() -> None:
    calendars = world()
    held = Booking("b1", "room:doha-3", "us-iran-nuclear", at(0), at(2))
    waiting = Booking("b2", "room:doha-3", "ceasefire", at(1), at(3))
    calendars.book(held)
    calendars.book(waiting, queue=True)
    assert calendars.find("b1") == (held, BookingStatus.ACCEPTED)
    assert calendars.find("b2") == (waiting, BookingStatus.QUEUED)
    with pytest.raises(NotFoundError, match="no booking b3"):
        calendars.find("b3")


def test_attention_budget_and_saturation() -> None:
    calendars = world()
    person = "person:usa/principal"
    assert calendars.book(Booking("s1", person, "us-iran-nuclear", at(0), at(4)))
    assert not calendars.saturated(person, at(1))
    assert calendars.book(Booking("s2", person, "ceasefire", at(1), at(2)))
    assert calendars.saturated(person, at(1.5))
    assert calendars.load(person, at(1.5)) == 2
    assert not calendars.saturated(person, at(3))
    third = calendars.book(Booking("s3", person, "trade", at(1.5), at(5)))
    assert [b.booking_id for b in third.blockers] == ["s1", "s2"]


def test_bad_input_is_refused_clearly() -> None:
    calendars = world()
    with pytest.raises(ConfigurationError, match="capacity must be >= 1"):
        Resource("room:x", ResourceKind.ROOM, capacity=0)
    with pytest.raises(ConfigurationError, match="start must be before end"):
        Booking("b", "room:doha-3", "t", at(1), at(1))
    with pytest.raises(NotFoundError, match="unknown resource 'room:nowhere'"):
        calendars.book(Booking("b", "room:nowhere", "t", at(0), at(1)))
    calendars.book(Booking("b", "room:doha-3", "t", at(0), at(1)))
    with pytest.raises(ConflictError, match="booking b exists already"):
        calendars.book(Booking("b", "room:doha-3", "t", at(5), at(6)))
    with pytest.raises(NotFoundError, match="no booking nope"):
        calendars.cancel("nope")
    calendars.book(Booking("c", "person:usa/principal", "t", at(0), at(1)))
    calendars.book(Booking("d", "person:usa/principal", "u", at(0), at(1)))
    with pytest.raises(ConflictError, match="2 bookings overlap; capacity 1 is too low"):
        calendars.add_resource(Resource("person:usa/principal", ResourceKind.PERSON, capacity=1))
    calendars.add_resource(Resource("person:usa/principal", ResourceKind.PERSON, capacity=3))
    assert not calendars.saturated("person:usa/principal", at(0.5))


OPS = st.lists(
    st.tuples(
        st.booleans(),  # book (True) or cancel (False)
        st.sampled_from(["room", "person"]),
        st.integers(0, 10),  # start hour
        st.integers(1, 4),  # length
        st.integers(0, 3),  # priority
        st.booleans(),  # queue
        st.integers(0, 30),  # which booking to cancel
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(OPS)
def test_never_double_booked_and_nothing_queued_that_fits(
    ops: list[tuple[bool, str, int, int, int, bool, int]],
) -> None:
    calendars = Calendars()
    capacities = {"room": 1, "person": 2}
    for name, capacity in capacities.items():
        calendars.add_resource(Resource(name, ResourceKind.ROOM, capacity))
    made: list[str] = []
    for i, (booking, resource, start, length, priority, queue, which) in enumerate(ops):
        if booking:
            asked = Booking(f"b{i}", resource, f"track{i}", at(start), at(start + length), priority)
            foreseen = calendars.preview(asked, queue=queue)
            assert calendars.book(asked, queue=queue) == foreseen  # the preview changed nothing
            made.append(f"b{i}")
        elif made:
            victim = made.pop(which % len(made))
            if victim in calendars._where:
                freed = calendars.resource_of(victim)
                foreseen_promotions = calendars.preview_cancel(victim)
                assert calendars.cancel(victim) == foreseen_promotions
                assert all(r.booking.resource == freed for r in foreseen_promotions)
        for name, capacity in capacities.items():
            assert _peak(calendars.accepted(name)) <= capacity
        assert all(calendars.waiting_on(b) for b in calendars.queued())
