"""Radius statistics against a brute-force haversine count on the real UCDP file."""

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import EncodingError
from backchannel.forecast.events import (
    LOCATION_UNCERTAINTY_KM,
    DatePrecision,
    EventReport,
    EventTime,
    Location,
    LocationPrecision,
)
from backchannel.forecast.feeds import read_feed
from backchannel.forecast.fusion import fuse
from backchannel.forecast.geo import haversine_km
from backchannel.forecast.radius import (
    EventArrays,
    PrecisionRule,
    RadiusQuery,
    Venue,
    monthly_series,
    radius_stats,
)

UCDP = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ucdp" / "ucdp_ged231_car.csv"
BANGUI = Venue(4.3947, 18.5582, "Bangui")


@pytest.fixture(scope="module")
def reports() -> tuple[EventReport, ...]:
    return read_feed(UCDP, "ucdp").reports


def brute_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def brute(
    reports: tuple[EventReport, ...], query: RadiusQuery, since: datetime, until: datetime
) -> tuple[int, int, int, int]:
    count = best = low = high = 0
    for r in reports:
        loc, when = r.location, r.time.midpoint
        if (
            loc.precision > query.rule.max_location_precision
            or r.time.precision > query.rule.max_date_precision
        ):
            continue
        if (
            brute_km(query.venue.latitude, query.venue.longitude, loc.latitude, loc.longitude)
            > query.radius_km
        ):
            continue
        if since <= when < until:
            assert r.fatalities is not None
            count += 1
            best += r.fatalities.best
            low += r.fatalities.low
            high += r.fatalities.high
    return count, best, low, high


@pytest.mark.parametrize(
    ("venue", "radius", "year"),
    [
        (BANGUI, 800.0, 2014),
        (BANGUI, 150.0, 2021),
        (Venue(8.4, 20.6), 300.0, 2019),
        (Venue(0.3, 32.6), 800.0, 2010),
    ],
)
def test_counts_match_a_brute_force_haversine(
    reports: tuple[EventReport, ...], venue: Venue, radius: float, year: int
) -> None:
    since, until = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    query = RadiusQuery(venue, since, until, radius_km=radius, baseline_days=730)
    stats = radius_stats(reports, query)
    w = stats.window
    assert (w.events, w.best, w.low, w.high) == brute(reports, query, since, until)
    b = stats.baseline
    assert (b.events, b.best, b.low, b.high) == brute(reports, query, since - timedelta(days=730), since)
    if b.events:
        assert stats.event_trend == pytest.approx((w.events / 365) / (b.events / 730))


def test_the_precision_rule_excludes_and_reports(reports: tuple[EventReport, ...]) -> None:
    since, until = datetime(2013, 1, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC)
    loose = RadiusQuery(
        BANGUI, since, until, 2000.0, rule=PrecisionRule(LocationPrecision.COUNTRY, DatePrecision.YEAR)
    )
    strict = RadiusQuery(BANGUI, since, until, 2000.0)
    everything = radius_stats(reports, loose)
    counted = radius_stats(reports, strict)
    assert everything.excluded_location == everything.excluded_date == 0
    assert counted.excluded_location > 0
    assert (
        counted.window.events + counted.baseline.events + counted.excluded_location + counted.excluded_date
        == (everything.window.events + everything.baseline.events)
    )


def test_boundary_events_are_counted_and_reported() -> None:
    when = datetime(2021, 6, 1, tzinfo=UTC)
    # ~100 km north of the venue; an ADM1-precision event may be anywhere within 150 km of its point
    events = [
        EventReport(
            "1",
            "generic",
            "s",
            EventTime(when, when),
            Location(5.30, 18.5582, LocationPrecision.ADM1),
            ("A", "B"),
        ),
        EventReport("2", "generic", "s", EventTime(when, when), Location(4.40, 18.5582), ("A", "B")),
    ]
    query = RadiusQuery(BANGUI, datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC), 120.0)
    stats = radius_stats(events, query)
    assert (stats.window.events, stats.boundary) == (2, 1)
    assert LOCATION_UNCERTAINTY_KM[LocationPrecision.ADM1] > 20
    assert stats.event_trend is None  # empty baseline
    assert stats.to_dict()["excluded"] == {"location_precision": 0, "date_precision": 0}


def test_fused_events_count_once_with_the_envelope(reports: tuple[EventReport, ...]) -> None:
    fused = fuse(reports).events
    query = RadiusQuery(BANGUI, datetime(2014, 1, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC))
    assert radius_stats(fused, query).window == radius_stats(reports, query).window


def test_monthly_series_adds_up_to_the_windows(reports: tuple[EventReport, ...]) -> None:
    query = RadiusQuery(
        BANGUI, datetime(2020, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC), 500.0, 365
    )
    series = monthly_series(reports, query)
    stats = radius_stats(EventArrays.of(reports), query)
    assert len(series) == 36
    assert series[0].month == datetime(2019, 1, 1, tzinfo=UTC)
    assert sum(p.events for p in series if p.in_window) == stats.window.events
    assert sum(p.events for p in series if not p.in_window) == stats.baseline.events
    assert sum(p.best for p in series if p.in_window) == stats.window.best


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-89.9, 89.9),
    st.floats(-179.9, 179.9),
    st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9)), min_size=1, max_size=20),
)
def test_vectorised_haversine_matches_the_scalar_formula(
    lat: float, lon: float, points: list[tuple[float, float]]
) -> None:
    lats = np.array([p[0] for p in points])
    lons = np.array([p[1] for p in points])
    got = haversine_km(lat, lon, lats, lons)
    want = [brute_km(lat, lon, a, b) for a, b in points]
    assert got.tolist() == pytest.approx(want, abs=1e-6)


def test_bad_queries_are_named() -> None:
    t = datetime(2021, 1, 1, tzinfo=UTC)
    with pytest.raises(EncodingError, match="query.until"):
        RadiusQuery(BANGUI, t, t)
    with pytest.raises(EncodingError, match="query.radius_km"):
        RadiusQuery(BANGUI, t, t + timedelta(days=1), radius_km=0)
    with pytest.raises(EncodingError, match="query.baseline_days"):
        RadiusQuery(BANGUI, t, t + timedelta(days=1), baseline_days=0)
    with pytest.raises(EncodingError, match="timezone-aware"):
        RadiusQuery(BANGUI, datetime(2021, 1, 1), t + timedelta(days=1))  # noqa: DTZ001
    with pytest.raises(EncodingError, match="venue.latitude"):
        Venue(91, 0)
    with pytest.raises(EncodingError, match="venue.longitude"):
        Venue(0, 181)
    with pytest.raises(EncodingError, match="LAT,LON"):
        Venue.from_text("Bangui")
    assert Venue.from_text("4.36, 18.55", "CAR") == Venue(4.36, 18.55, "CAR")
    assert len(EventArrays.of([])) == 0
