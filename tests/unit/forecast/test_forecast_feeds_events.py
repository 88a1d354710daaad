"""The event record: validation names the field and the rule; JSON round trips; digests are stable."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import EncodingError
from backchannel.forecast.events import (
    DatePrecision,
    EventCode,
    EventReport,
    EventTime,
    Fatalities,
    Location,
    LocationPrecision,
    canonical_json,
    parse_time,
)
from backchannel.log.canonical import canonicalize

T0 = datetime(2020, 5, 1, tzinfo=UTC)
GOOD = EventReport(
    "r1",
    "generic",
    "wire",
    EventTime(T0, T0 + timedelta(days=2), DatePrecision.DAYS),
    Location(4.36, 18.58, LocationPrecision.NEAR, "Bangui"),
    ("A", "B"),
    EventCode("190", -10.0, "Use conventional military force"),
    0.7,
    Fatalities(2, 1, 3),
    "ref",
)


def test_round_trip_and_digest() -> None:
    data = GOOD.to_dict()
    again = EventReport.from_dict(json.loads(json.dumps(data)))
    assert again == GOOD
    assert again.digest() == GOOD.digest()
    assert len(GOOD.digest()) == 64
    assert GOOD.time.midpoint == T0 + timedelta(days=1)
    assert GOOD.location.uncertainty_km == 25.0
    assert GOOD.event_code is not None
    assert GOOD.event_code.root == "19"
    assert GOOD.actor_key == frozenset({"a", "b"})


def test_parse_time() -> None:
    assert parse_time("2020-05-01", "t") == T0
    assert parse_time("2020-05-01T02:00:00+02:00", "t") == T0
    with pytest.raises(EncodingError, match="t: must be an ISO 8601 date or date-time string"):
        parse_time(5, "t")
    with pytest.raises(EncodingError, match="t: must be an ISO 8601"):
        parse_time("May 1", "t")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("source"), r"report\.source: is required"),
        (lambda d: d.update(colour="red"), r"report\.colour: unknown field"),
        (lambda d: d.update(actors=[]), r"report\.actors: must be a non-empty list"),
        (lambda d: d.update(actors=["A", ""]), r"report\.actors\[1\]: must be a non-empty string"),
        (lambda d: d.update(confidence="high"), r"report\.confidence: must be a finite number"),
        (lambda d: d.update(confidence=2), r"confidence: must be a number in \[0, 1\]"),
        (lambda d: d["time"].update(precision=9), r"report\.time\.precision: must be a date precision code"),
        (lambda d: d["time"].update(end="2019-01-01"), r"time\.end: must not be before"),
        (lambda d: d.update(time=[]), r"report\.time: must be an object"),
        (
            lambda d: d["location"].update(precision=True),
            r"location\.precision: must be a location precision code",
        ),
        (lambda d: d["location"].update(latitude=95), r"location\.latitude: must be a number in \[-90, 90\]"),
        (
            lambda d: d["location"].update(longitude=200),
            r"location\.longitude: must be a number in \[-180, 180\]",
        ),
        (lambda d: d["location"].update(name=3), r"location\.name: must be a string"),
        (lambda d: d["fatalities"].update(best=-1), r"fatalities\.best: must be a whole number >= 0"),
        (lambda d: d["fatalities"].update(low=1.5), r"fatalities\.low: must be a whole number >= 0"),
        (lambda d: d["event_code"].update(code="1a"), r"event_code\.code: must be a CAMEO code"),
        (lambda d: d["event_code"].update(code="19999"), r"event_code\.code: must be a CAMEO code"),
        (
            lambda d: d["event_code"].update(goldstein=11),
            r"event_code\.goldstein: must be a number in \[-10, 10\]",
        ),
    ],
)
def test_bad_fields_are_named(change: object, message: str) -> None:
    data = json.loads(json.dumps(GOOD.to_dict()))
    change(data)  # type: ignore[operator]
    with pytest.raises(EncodingError, match=message):
        EventReport.from_dict(data)


def test_naive_times_are_refused() -> None:
    with pytest.raises(EncodingError, match="timezone-aware"):
        EventTime(datetime(2020, 1, 1), datetime(2020, 1, 1))  # noqa: DTZ001
    assert not Fatalities(5, 6, 4).ordered
    assert Fatalities(5, 4, 6).ordered


@settings(max_examples=80, deadline=None)
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.sampled_from(list(LocationPrecision)),
    st.sampled_from(list(DatePrecision)),
    st.integers(0, 10_000),
    st.floats(0, 1),
    st.text(min_size=1, max_size=12).filter(str.strip),
)
def test_json_round_trips_are_exact(  # noqa: PLR0917 - one argument per strategy
    lat: float,
    lon: float,
    where: LocationPrecision,
    when: DatePrecision,
    deaths: int,
    confidence: float,
    actor: str,
) -> None:
    report = EventReport(
        "x",
        "generic",
        "s",
        EventTime(T0, T0, when),
        Location(lat, lon, where),
        (actor.strip(), "B"),
        confidence=confidence,
        fatalities=Fatalities(deaths, deaths, deaths),
    )
    again = EventReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert again.digest() == report.digest()


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(0, 1),
    st.floats(-10, 10),
    st.text(max_size=8),
    st.datetimes(timezones=st.just(UTC)),
)
def test_the_fast_canonical_form_is_rfc8785(  # noqa: PLR0917 - one argument per strategy
    lat: float, lon: float, confidence: float, weight: float, text: str, when: datetime
) -> None:
    report = EventReport(
        "id " + text,
        "generic",
        "s" + text,
        EventTime(when, when),
        Location(lat, lon, name=text),
        ("A" + text, "B"),
        EventCode("0101", weight, text),
        confidence,
        Fatalities(1, 0, 2),
        text,
    )
    try:
        expected = canonicalize(report.to_dict())
    except EncodingError:  # a lone surrogate: neither form can encode it
        with pytest.raises(UnicodeEncodeError):
            report.canonical().encode("utf-8")
        return
    assert report.canonical().encode("utf-8") == expected
    assert canonical_json(report.to_dict()).encode("utf-8") == expected
    assert EventReport.from_dict(json.loads(expected)) == report


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-7, 5e-324, 1e16, 1.5e300, -2.5, 1e21, 123456789012345.6])
def test_numbers_are_written_as_rfc8785_does(value: float) -> None:
    assert canonical_json([value, 3, None, True, False]).encode() == canonicalize(
        [value, 3, None, True, False]
    )


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(EncodingError, match="canonical JSON"):
        canonical_json(float("nan"))
