"""Fusion: duplicates merged, contradictions kept side by side, the same result in every order."""

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import EncodingError
from backchannel.forecast.events import (
    EventCode,
    EventReport,
    EventTime,
    Fatalities,
    Location,
    LocationPrecision,
)
from backchannel.forecast.feeds import read_feed
from backchannel.forecast.fusion import FusionResult, FusionTolerances, SourceReliability, fuse

UCDP = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ucdp" / "ucdp_ged231_car.csv"
T0 = datetime(2021, 6, 1, tzinfo=UTC)


def report(
    rid: str,
    source: str,
    *,
    day: float = 0,
    lat: float = 4.36,
    lon: float = 18.58,
    actors: tuple[str, ...] = ("FPRC", "Civilians"),
    deaths: int | None = 3,
    code: str | None = "190",
    precision: LocationPrecision = LocationPrecision.EXACT,
    confidence: float = 1.0,
) -> EventReport:
    when = T0 + timedelta(days=day)
    return EventReport(
        report_id=rid,
        feed="generic",
        source=source,
        time=EventTime(when, when),
        location=Location(lat, lon, precision),
        actors=actors,
        event_code=None if code is None else EventCode(code, -10.0 if code == "190" else -9.0),
        confidence=confidence,
        fatalities=None if deaths is None else Fatalities(deaths, deaths, deaths),
    )


def signature(result: FusionResult) -> list[tuple[str, tuple[str, ...], tuple[object, ...]]]:
    return [
        (e.event_id, tuple(p.digest for p in e.provenance), tuple(e.contradictions)) for e in result.events
    ]


def test_reports_of_one_event_merge_with_every_source_kept() -> None:
    reports = [
        report("a1", "wire", day=0),
        report("b7", "radio", day=0.5, lat=4.40),  # ~5 km away, half a day later
        report("c3", "ngo", day=1, lon=18.60, actors=("civilians", "fprc")),  # actors' case and order ignored
    ]
    (event,) = fuse(reports).events
    assert {p.source for p in event.provenance} == {"wire", "radio", "ngo"}
    assert {p.report_id for p in event.provenance} == {"a1", "b7", "c3"}
    assert not event.contradicted


def test_different_actors_or_far_places_or_times_stay_apart() -> None:
    reports = [
        report("a", "wire"),
        report("b", "radio", actors=("LRA", "Civilians")),
        report("c", "ngo", lat=6.0),  # ~180 km
        report("d", "tv", day=5),
    ]
    assert len(fuse(reports).events) == 4


def test_location_precision_widens_the_match() -> None:
    near = report("a", "wire")
    vague = report("b", "radio", lat=4.9, precision=LocationPrecision.ADM1)  # ~60 km, ADM1 +150 km
    assert len(fuse([near, vague]).events) == 1
    assert len(fuse([near, dataclasses.replace(vague, location=Location(4.9, 18.58))]).events) == 2
    capped = FusionTolerances(max_uncertainty_km=10)
    assert len(fuse([near, vague], capped).events) == 2


def test_contradictions_are_kept_side_by_side_and_flagged() -> None:
    reports = [
        report("a", "wire", deaths=3),
        report("b", "radio", deaths=30, code="180"),
        report("c", "ngo", deaths=3),
    ]
    (event,) = fuse(reports).events
    fields = {c.field: c for c in event.contradictions}
    assert set(fields) == {"fatalities", "event_code"}
    deaths = dict(fields["fatalities"].values)
    assert set(deaths) == {"best 3 low 3 high 3", "best 30 low 30 high 30"}
    assert deaths["best 30 low 30 high 30"] == (reports[1].digest(),)
    assert len(deaths["best 3 low 3 high 3"]) == 2
    assert (event.fatalities_low, event.fatalities_high) == (3, 30)
    assert len(event.reports) == 3  # nothing dropped


def test_the_lead_is_the_most_reliable_source_and_confidence_combines() -> None:
    reports = [report("a", "wire", deaths=3), report("b", "radio", deaths=30)]
    reliability = SourceReliability({"wire": 0.2, "radio": 0.9})
    (event,) = fuse(reports, reliability=reliability).events
    assert event.lead.source == "radio"
    assert event.fatalities == Fatalities(30, 30, 30)
    assert event.confidence == pytest.approx(1 - (1 - 0.2) * (1 - 0.9))
    assert {p.source: p.reliability for p in event.provenance} == {"wire": 0.2, "radio": 0.9}
    (event,) = fuse(reports, reliability=SourceReliability({"wire": 0.95})).events
    assert event.lead.source == "wire"


def test_exact_duplicates_count_once() -> None:
    one = report("a", "wire")
    result = fuse([one, one, dataclasses.replace(one)])
    assert (result.reports, result.duplicates, len(result.events)) == (1, 2, 1)


def test_one_source_never_merges_two_of_its_own_items() -> None:
    a = report("1", "ucdp")
    b = report("2", "ucdp", day=0.2)  # same source, different item: two events
    assert len(fuse([a, b]).events) == 2
    # a third source close to both joins the closer one only
    bridge = report("x", "wire", day=0.1)
    result = fuse([a, b, bridge])
    assert len(result.events) == 2
    assert result.refused_links == 2  # a-b directly, and b through x
    joined = next(e for e in result.events if len(e.reports) == 2)
    assert {r.report_id for r in joined.reports} == {"1", "x"}


def test_the_ucdp_file_alone_keeps_every_event_and_replays_merge() -> None:
    reports = read_feed(UCDP, "ucdp").reports
    assert len(fuse(reports).events) == 1848
    replayed = [dataclasses.replace(r, source=f"replay-{k}") for k in range(3) for r in reports[:300]]
    result = fuse(replayed)
    assert len(result.events) == 300
    assert all(len(e.reports) == 3 for e in result.events)
    assert not result.contradicted


def test_bad_tolerances_and_reliabilities_are_named() -> None:
    with pytest.raises(EncodingError, match="tolerances.time_days"):
        FusionTolerances(time_days=-1)
    with pytest.raises(EncodingError, match=r"reliability\['x'\]"):
        SourceReliability({"x": 2.0})


def test_to_dict_lists_provenance_and_contradictions() -> None:
    (event,) = fuse([report("a", "wire", deaths=1), report("b", "radio", deaths=2)]).events
    data = event.to_dict()
    assert [p["source"] for p in data["provenance"]] == sorted(
        (p.source for p in event.provenance),
        key=lambda s: next(r.digest() for r in event.reports if r.source == s),
    )
    assert data["contradictions"][0]["field"] == "fatalities"


# --- order independence -------------------------------------------------------------------------

_SOURCES = ("wire", "radio", "ngo", "tv")


@st.composite
def feeds(draw: st.DrawFn) -> list[EventReport]:
    """Several events, each told by some sources with jitter and sometimes contradicting deaths or codes."""
    reports: list[EventReport] = []
    for n in range(draw(st.integers(1, 6))):
        day = draw(st.sampled_from([0, 0.5, 1.5, 3, 10]))
        lat = draw(st.sampled_from([4.36, 4.5, 5.5]))
        actors = draw(st.sampled_from([("FPRC", "Civilians"), ("LRA", "Civilians")]))
        for source in draw(st.lists(st.sampled_from(_SOURCES), min_size=1, max_size=4, unique=True)):
            reports.append(  # noqa: PERF401 - draws interleave
                report(
                    f"{source}-{n}",
                    source,
                    day=day + draw(st.sampled_from([0, 0.25, 1.2])),
                    lat=lat + draw(st.sampled_from([0, 0.05, 0.3])),
                    actors=actors,
                    deaths=draw(st.sampled_from([None, 2, 3, 40])),
                    code=draw(st.sampled_from([None, "190", "180"])),
                    precision=draw(st.sampled_from([LocationPrecision.EXACT, LocationPrecision.ADM2])),
                )
            )
    duplicates = draw(st.lists(st.sampled_from(reports), max_size=3))
    return reports + duplicates


@settings(max_examples=150, deadline=None)
@given(feeds(), st.randoms(use_true_random=False))
def test_fusion_does_not_depend_on_arrival_order(reports: list[EventReport], rnd: object) -> None:
    reliability = SourceReliability({"wire": 0.9, "radio": 0.6})
    expected = fuse(reports, reliability=reliability)
    shuffled = list(reports)
    for _ in range(3):
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        again = fuse(shuffled, reliability=reliability)
        assert signature(again) == signature(expected)
        assert [e.lead.digest() for e in again.events] == [e.lead.digest() for e in expected.events]
        assert [e.confidence for e in again.events] == [e.confidence for e in expected.events]
        assert (again.reports, again.duplicates, again.refused_links) == (
            expected.reports,
            expected.duplicates,
            expected.refused_links,
        )
    # nothing is lost: every distinct report is in exactly one event
    digests = sorted(r.digest() for e in expected.events for r in e.reports)
    assert digests == sorted({r.digest() for r in reports})
    # a contradiction is flagged exactly when the reports of an event disagree
    for event in expected.events:
        deaths = {r.fatalities for r in event.reports if r.fatalities is not None}
        codes = {r.event_code.code for r in event.reports if r.event_code is not None}
        flagged = {c.field for c in event.contradictions}
        assert ("fatalities" in flagged) == (len(deaths) > 1)
        assert ("event_code" in flagged) == (len(codes) > 1)
