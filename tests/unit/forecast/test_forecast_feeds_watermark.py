"""Watermarks and staleness: newer input inside the radius or about the actors makes a forecast stale."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from backchannel.errors import EncodingError
from backchannel.forecast.events import EventReport, EventTime, Location, LocationPrecision
from backchannel.forecast.radius import Venue
from backchannel.forecast.watermark import Forecast, Watermark, format_age, staleness

GENEVA = Venue(46.2044, 6.1432, "Geneva")
T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def item(rid: str, lat: float, lon: float, actors: tuple[str, ...] = ("X", "Y"), **kw: object) -> EventReport:
    precision = kw.get("precision", LocationPrecision.EXACT)
    assert isinstance(precision, LocationPrecision)
    return EventReport(rid, "generic", "wire", EventTime(T0, T0), Location(lat, lon, precision), actors)


OLD = [item("old-1", 46.0, 6.0), item("old-2", 45.0, 7.0)]
forecast = Forecast("talks proceed by June", T0, Watermark.of(OLD, T0, store_size=2), {"p": 0.4})


def test_a_newer_event_inside_the_radius_makes_it_stale() -> None:
    near = item("new-1", 45.76, 4.84)  # Lyon, ~110 km
    verdict = staleness(forecast.watermark, [near], T0 + timedelta(hours=3), GENEVA, 800.0, ["US", "Iran"])
    assert verdict
    assert verdict.cause == near
    assert verdict.age == timedelta(hours=3)
    assert "within 800 km" in verdict.reason
    assert "STALE (age 3 h 0 min): wire report new-1" in verdict.describe()


def test_one_outside_the_radius_does_not() -> None:
    far = item("new-2", 4.36, 18.58)  # Bangui, ~5000 km
    verdict = staleness(forecast.watermark, [far], T0 + timedelta(minutes=5), GENEVA, 800.0, ["US", "Iran"])
    assert not verdict
    assert verdict.cause is None
    assert verdict.describe() == "current (age 5 min)"


def test_one_about_the_tracks_actors_does_anywhere() -> None:
    far = item("new-3", 35.7, 51.4, actors=("iran", "IAEA"))
    verdict = staleness(forecast.watermark, [far], T0, GENEVA, 800.0, ["US", "Iran"])
    assert verdict
    assert verdict.reason == "about iran"


def test_items_already_read_and_vague_locations_do_not() -> None:
    vague = item("new-4", 46.2, 6.1, precision=LocationPrecision.COUNTRY)
    verdict = staleness(forecast.watermark, [*OLD, vague], T0, GENEVA, 800.0, [])
    assert not verdict


def test_the_first_relevant_item_in_arrival_order_is_the_cause() -> None:
    first, second = item("a", 46.1, 6.2), item("b", 46.3, 6.0)
    verdict = staleness(forecast.watermark, [item("far", 0, 0), first, second], T0, GENEVA, 800.0, [])
    assert verdict.cause == first
    assert verdict.causes == (first, second)
    assert "and 1 more" in verdict.describe()
    assert verdict.to_dict()["causes"] == [first.digest(), second.digest()]


def test_a_forecast_is_never_shown_without_its_age() -> None:
    now = T0 + timedelta(days=2, hours=4)
    data = forecast.to_dict(now)
    assert data["age_seconds"] == timedelta(days=2, hours=4).total_seconds()
    assert forecast.describe(now) == "talks proceed by June (computed 2 d 4 h ago)"
    again = Forecast.from_dict(json.loads(json.dumps(data)))
    assert again.watermark == forecast.watermark
    assert again.payload == {"p": 0.4}
    assert forecast.to_dict(now, encode=sorted)["payload"] == ["p"]


def test_watermarks_round_trip_and_bad_ones_are_named() -> None:
    mark = forecast.watermark
    assert mark.through == T0
    assert Watermark.from_dict(mark.to_dict()) == mark
    assert Watermark.of([], T0).through is None
    with pytest.raises(EncodingError, match=r"watermark\.items"):
        Watermark.from_dict({**mark.to_dict(), "items": "x"})
    with pytest.raises(EncodingError, match=r"watermark\.store_size"):
        Watermark.from_dict({**mark.to_dict(), "store_size": -1})
    with pytest.raises(EncodingError, match="watermark: must be an object"):
        Watermark.from_dict([])
    with pytest.raises(EncodingError, match="forecast.name"):
        Forecast.from_dict({"name": ""})
    with pytest.raises(EncodingError, match="forecast: must be an object"):
        Forecast.from_dict(3)
    with pytest.raises(EncodingError, match="radius_km"):
        staleness(mark, [], T0, GENEVA, -1.0, [])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (600, "10 min"), (3 * 3600 + 120, "3 h 2 min"), (90000, "1 d 1 h")],
)
def test_ages_read_well(seconds: int, text: str) -> None:
    assert format_age(timedelta(seconds=seconds)) == text


def test_a_watermark_of_fused_events_covers_every_report() -> None:
    from backchannel.forecast.fusion import fuse

    a, b = (
        item("a", 46.1, 6.2),
        EventReport("b", "generic", "radio", EventTime(T0, T0), Location(46.1, 6.2), ("X", "Y")),
    )
    (event,) = fuse([a, b]).events
    mark = Watermark.of([event], T0)
    assert mark.items == {a.digest(), b.digest()}
    assert not staleness(mark, [b, a], T0, GENEVA, 800.0, [])
