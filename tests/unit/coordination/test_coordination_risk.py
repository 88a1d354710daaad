"""Bookings at risk: a booked person offline (silent past the heartbeat window) on some track."""

from datetime import UTC, datetime, timedelta

from backchannel.coordination.calendar import Booking, Resource, ResourceKind
from backchannel.coordination.risk import Liveness, Offline, bookings_at_risk, member_of, offline_members

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=90)


def test_a_person_resource_or_a_holder_names_a_member() -> None:
    assert member_of("person:usa/principal") == "usa/principal"
    assert member_of("usa/principal") == "usa/principal"
    assert member_of("us-iran-nuclear") is None
    assert member_of("room:geneva") is None
    assert member_of("person:usa/") is None
    assert member_of("/principal") is None
    assert member_of("a/b/c") is None


def test_offline_is_silent_past_the_window_on_any_track_earliest_first() -> None:
    beats = {
        "ceasefire": {"usa/principal": T0 + timedelta(seconds=30), "iran/principal": T0},
        "iran": {"usa/principal": T0, "qatar/principal": T0 + timedelta(seconds=100)},
        "other": {"usa/principal": T0},  # the same silence, on a later track by name: not preferred
    }
    now = T0 + timedelta(seconds=150)
    offline = offline_members(Liveness(beats, WINDOW), now)
    assert offline == {
        "usa/principal": Offline("usa/principal", T0 + WINDOW, "iran"),
        "iran/principal": Offline("iran/principal", T0 + WINDOW, "ceasefire"),
    }
    assert offline["usa/principal"].describe() == (
        "usa/principal offline since 2026-12-06T20:01:30+00:00 (silent on iran)"
    )
    assert offline_members(Liveness(beats, WINDOW), T0 + WINDOW) == {}  # exactly at the window: online


def test_bookings_of_an_offline_person_or_holder_not_yet_ended_are_at_risk() -> None:
    resources = {
        "person:usa/principal": Resource("person:usa/principal", ResourceKind.PERSON),
        "room:usa/principal": Resource("room:usa/principal", ResourceKind.ROOM),  # a room, not the person
        "room:geneva": Resource("room:geneva", ResourceKind.ROOM),
    }
    hour = timedelta(hours=1)
    now = T0 + 2 * hour
    bookings = [
        Booking("past", "person:usa/principal", "iran", T0, T0 + hour),
        Booking("now", "person:usa/principal", "iran", T0 + hour, T0 + 3 * hour),
        Booking("later", "person:usa/principal", "iran", T0 + 5 * hour, T0 + 6 * hour),
        Booking("room-named-like-a-member", "room:usa/principal", "iran", now, now + hour),
        Booking("held-by-the-member", "room:geneva", "usa/principal", now, now + hour),
        Booking("someone-else", "room:geneva", "iran/principal", now + hour, now + 2 * hour),
        Booking("unknown-resource", "person:usa/principal-2", "iran", now, now + hour),
    ]
    gone = Offline("usa/principal", T0, "iran")
    risky = bookings_at_risk(resources, bookings, {"usa/principal": gone}, now)
    assert risky == {"now": gone, "later": gone, "held-by-the-member": gone}
    assert bookings_at_risk(resources, bookings, {}, now) == {}
