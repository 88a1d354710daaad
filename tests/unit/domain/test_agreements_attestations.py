"""Metrics and inspectors' attestations: the rules, the quorum and conflict events, the fold, visibility."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from agreements_world import DAY, METRIC, attest, attest_cmd, compliance, define
from track_world import World, populate

from backchannel.domain import PartyKind, Role, event_from_dict, evolve
from backchannel.domain.agreements import attestations
from backchannel.domain.agreements.attestation_book import UnknownMetricError
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.attestation_events import (
    AttestationConflictFlagged,
    AttestationFiled,
    AttestationQuorumReached,
    MetricDefined,
)
from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError
from backchannel.domain.visibility import visible_to
from backchannel.errors import EncodingError

NAIVE = datetime(2026, 1, 1)  # noqa: DTZ001 - naive on purpose


@pytest.fixture
def w() -> World:
    return compliance()


def fields_of(error: pytest.ExceptionInfo[SchemaViolationError]) -> list[str]:
    return [v.field for v in error.value.violations]


# --- define_metric ---------------------------------------------------------------------------------


def test_a_metric_is_defined_once_by_the_mediator(w: World) -> None:
    rule = w.s.attestations.metric(METRIC)
    assert (rule.unit, rule.inspectors, rule.quorum, rule.tolerance) == ("%", ("iaea", "euratom"), 2, 0.1)
    assert rule.tolerance_kind is ToleranceKind.ABSOLUTE
    assert rule.window == DAY
    assert rule.window_start(rule.window_of(w.now)) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(TrackStateError, match="already defined"):
        define(w)
    with pytest.raises(NotAuthorizedError, match="may not define metrics"):
        define(w, "other.metric", by="usa/lead")
    with pytest.raises(UnknownMetricError, match="no metric 'nope'"):
        w.s.attestations.metric("nope")


def test_there_is_a_most_metrics_per_track(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attestations, "MAX_METRICS", 2)
    define(w, "second.metric")
    with pytest.raises(TrackStateError, match="already defines 2 metrics"):
        define(w, "third.metric")


def test_the_panel_is_of_admitted_inspector_parties(w: World) -> None:
    with pytest.raises(SchemaViolationError) as caught:
        define(w, "x.y", inspectors=("iaea", "usa", "nobody"))
    assert fields_of(caught) == ["inspectors.1", "inspectors.2"]
    assert "usa is a delegation party, not an inspector" in str(caught.value)
    assert "nobody is not a party of the track" in str(caught.value)


def test_a_metric_measuring_an_agenda_issue_takes_its_unit(w: World) -> None:
    (event,) = define(w, "iaea.cap", issue="enrichment_cap_pct")
    assert isinstance(event, MetricDefined)
    assert event.issue == "enrichment_cap_pct"
    with pytest.raises(SchemaViolationError, match="unit: 'kg' does not match the agenda's '%'") as caught:
        define(w, "iaea.cap2", issue="enrichment_cap_pct", unit="kg")
    assert fields_of(caught) == ["unit"]
    with pytest.raises(SchemaViolationError, match="'sanctions_relief' is a one_of issue") as caught:
        define(w, "iaea.cap3", issue="sanctions_relief")
    assert fields_of(caught) == ["issue"]
    with pytest.raises(SchemaViolationError, match="not an issue of the current agenda"):
        define(w, "iaea.cap4", issue="stockpile_kg")


def test_without_an_agenda_no_issue_exists() -> None:
    w = World()
    w.open()
    w.admit("iaea", PartyKind.INSPECTOR)
    with pytest.raises(SchemaViolationError, match="not an issue of the current agenda"):
        define(w, inspectors=("iaea",), quorum=1, issue="enrichment_cap_pct")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"metric": "IAEA.x"}, ["metric"]),
        ({"metric": "a..b"}, ["metric"]),
        ({"unit": ""}, ["unit"]),
        ({"issue": ""}, ["issue"]),
        ({"inspectors": ["iaea"]}, ["inspectors"]),
        ({"inspectors": ("iaea",)}, ["quorum"]),
        ({"inspectors": ()}, ["inspectors"]),
        ({"inspectors": tuple(f"p{i}" for i in range(33))}, ["inspectors"]),
        ({"inspectors": ("iaea", "iaea")}, ["inspectors"]),
        ({"inspectors": ("iaea", "Bad")}, ["inspectors.1"]),
        ({"quorum": 3}, ["quorum"]),
        ({"quorum": 0}, ["quorum"]),
        ({"quorum": True}, ["quorum"]),
        ({"tolerance": -0.1}, ["tolerance"]),
        ({"tolerance": float("nan")}, ["tolerance"]),
        ({"tolerance": True}, ["tolerance"]),
        ({"tolerance_kind": "percent"}, ["tolerance_kind"]),
        ({"tolerance_kind": "relative", "tolerance": 1.5}, ["tolerance"]),
        ({"tolerance_kind": "relative", "tolerance": -1}, ["tolerance"]),
        ({"window_seconds": 0}, ["window_seconds"]),
        ({"window_seconds": 366 * 86400 + 1}, ["window_seconds"]),
    ],
)
def test_define_metric_shapes(w: World, changes: dict[str, Any], fields: list[str]) -> None:
    body: dict[str, Any] = {
        "metric": "a.b", "unit": "%", "issue": None, "inspectors": ("iaea", "euratom"), "quorum": 2,
        "tolerance": 0.1, "tolerance_kind": "absolute", "window_seconds": 60,
    }  # fmt: skip
    body.update(changes)
    with pytest.raises(SchemaViolationError) as caught:
        w.cmd(DefineMetric, "med/chair", **body)
    assert fields_of(caught) == fields


def test_a_relative_tolerance_up_to_one_is_fine(w: World) -> None:
    (event,) = define(w, "rel.metric", tolerance=1, tolerance_kind="relative")
    assert isinstance(event, MetricDefined)
    assert event.tolerance_kind is ToleranceKind.RELATIVE


# --- file_attestation ------------------------------------------------------------------------------


def test_two_agreeing_inspectors_reach_quorum_on_the_low_median(w: World) -> None:
    (filed,) = attest(w, "iaea/lead", 3.62)
    assert isinstance(filed, AttestationFiled)
    assert filed.window_start == datetime(2026, 3, 1, tzinfo=UTC)
    assert filed.attestation_id == filed.command_digest.hex()
    second, quorum = attest(w, "euratom/lead", 3.58)
    assert isinstance(quorum, AttestationQuorumReached)
    assert (quorum.value, quorum.unit) == (3.58, "%")
    assert quorum.attestations == (second.command_digest.hex(), filed.attestation_id)
    assert quorum.parties == ("euratom", "iaea")
    window = w.s.attestations.window(METRIC, "natanz", w.s.attestations.metric(METRIC).window_of(w.now))
    assert window.counted is not None
    assert window.counted.value == 3.58
    assert w.s.attestations.counted_in(METRIC, window.window) == (("natanz", 3.58),)


def test_conflicts_are_flagged_and_kept_side_by_side(w: World) -> None:
    w.admit("unscom", PartyKind.INSPECTOR)
    define(w, "m.three", inspectors=("iaea", "euratom", "unscom"), quorum=2)
    (a,) = attest(w, "iaea/lead", 3.6, metric="m.three")
    b, flag = attest(w, "euratom/lead", 5.0, metric="m.three")
    assert isinstance(flag, AttestationConflictFlagged)
    assert (flag.attestation, flag.conflicts_with) == (b.command_digest.hex(), (a.command_digest.hex(),))
    c, flag2, quorum = attest(w, "unscom/lead", 3.65, metric="m.three")
    assert isinstance(flag2, AttestationConflictFlagged)
    assert flag2.conflicts_with == (b.command_digest.hex(),)
    assert isinstance(quorum, AttestationQuorumReached)
    assert (quorum.value, quorum.parties) == (3.6, ("iaea", "unscom"))
    book = w.s.attestations
    window = book.window("m.three", "natanz", book.metric("m.three").window_of(w.now))
    assert window.attestations == tuple(e.command_digest.hex() for e in (a, b, c))
    assert [book.attestations[i].value for i in window.attestations] == [3.6, 5.0, 3.65]
    assert len(window.conflicts) == 2


def test_a_counted_value_is_never_replaced(w: World) -> None:
    w.admit("unscom", PartyKind.INSPECTOR)
    define(w, "m.three", inspectors=("iaea", "euratom", "unscom"), quorum=2)
    attest(w, "iaea/lead", 3.6, metric="m.three")
    attest(w, "euratom/lead", 3.6, metric="m.three")
    assert [type(e) for e in attest(w, "unscom/lead", 3.61, metric="m.three")] == [AttestationFiled]
    flagged = attest(w, "iaea/lead", 9.0, metric="m.three", site="fordow")
    assert [type(e) for e in flagged] == [AttestationFiled]


def test_quorum_one_counts_a_single_inspector() -> None:
    w = populate(World())
    define(w, inspectors=("iaea",), quorum=1)
    events = attest(w, "iaea/lead", 2.0)
    assert [type(e) for e in events] == [AttestationFiled, AttestationQuorumReached]


def test_only_panel_inspectors_principals_and_delegates_attest(w: World) -> None:
    with pytest.raises(NotAuthorizedError, match="may not file attestations"):
        attest(w, "usa/lead", 3.6)
    with pytest.raises(NotAuthorizedError, match="may not file attestations"):
        attest(w, "med/chair", 3.6)
    w.enroll("iaea/watcher", Role.OBSERVER)
    with pytest.raises(NotAuthorizedError, match="may not file attestations"):
        attest(w, "iaea/watcher", 3.6)
    w.enroll("iaea/field", Role.DELEGATE)
    assert attest(w, "iaea/field", 3.6)
    w.admit("unscom", PartyKind.INSPECTOR)
    with pytest.raises(NotAuthorizedError, match="unscom is not on the panel"):
        attest(w, "unscom/lead", 3.6)


def test_unknown_metrics_units_and_future_observations_are_refused(w: World) -> None:
    size = len(w.events)
    with pytest.raises(UnknownMetricError):
        attest(w, "iaea/lead", 3.6, metric="iaea.stockpile_kg")
    with pytest.raises(
        SchemaViolationError, match="unit: 'kg' is not the unit of iaea.enrichment_pct"
    ) as caught:
        attest(w, "iaea/lead", 3.6, unit="kg")
    assert fields_of(caught) == ["unit"]
    future = w.now + attestations.MAX_FUTURE_SKEW + timedelta(microseconds=1)
    with pytest.raises(SchemaViolationError) as caught:
        attest(w, "iaea/lead", 3.6, future, unit="kg")
    assert fields_of(caught) == ["unit", "observed_at"]
    assert len(w.events) == size
    assert attest(w, "iaea/lead", 3.6, w.now + attestations.MAX_FUTURE_SKEW)  # the skew itself is fine


def test_a_party_attests_a_window_once(w: World) -> None:
    attest(w, "iaea/lead", 3.6)
    with pytest.raises(TrackStateError, match="never overwritten"):
        attest(w, "iaea/lead", 3.5, w.now + timedelta(seconds=1))
    w.enroll("iaea/field", Role.DELEGATE)
    with pytest.raises(TrackStateError, match="already attested"):
        attest(w, "iaea/field", 3.5)
    assert attest(w, "iaea/lead", 3.6, site="fordow")
    assert attest(w, "iaea/lead", 3.6, w.now - DAY)


def test_the_same_command_is_not_filed_twice(w: World) -> None:
    first = attest_cmd(w, "iaea/lead", 3.6)
    w.run(first)
    again = attest_cmd(w, "euratom/lead", 3.6, digest=first.digest)
    with pytest.raises(TrackStateError, match="was already filed"):
        w.run(again)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"metric": "x"}, []),
        ({"metric": "X"}, ["metric"]),
        ({"value": float("inf")}, ["value"]),
        ({"value": True}, ["value"]),
        ({"value": "3.6"}, ["value"]),
        ({"unit": "u" * 33}, ["unit"]),
        ({"observed_at": datetime(2026, 3, 1)}, ["observed_at"]),  # noqa: DTZ001 - naive on purpose
        ({"site": "Natanz"}, ["site"]),
        ({"site": 7}, ["site"]),
    ],
)
def test_file_attestation_shapes(w: World, changes: dict[str, Any], fields: list[str]) -> None:
    body: dict[str, Any] = {
        "metric": METRIC,
        "value": 3.6,
        "unit": "%",
        "observed_at": w.now,
        "site": "natanz",
    }
    body.update(changes)
    if not fields:
        w.cmd(FileAttestation, "iaea/lead", **body)
        return
    with pytest.raises(SchemaViolationError) as caught:
        w.cmd(FileAttestation, "iaea/lead", **body)
    assert fields_of(caught) == fields


# --- events, the fold ------------------------------------------------------------------------------


def test_every_attestation_event_round_trips(w: World) -> None:
    w.admit("unscom", PartyKind.INSPECTOR)
    define(w, "m.three", inspectors=("iaea", "euratom", "unscom"), quorum=2, issue="enrichment_cap_pct")
    attest(w, "iaea/lead", 3.6, metric="m.three")
    attest(w, "euratom/lead", 5, metric="m.three")
    attest(w, "unscom/lead", 3.6, metric="m.three")
    kinds = (MetricDefined, AttestationFiled, AttestationConflictFlagged, AttestationQuorumReached)
    mine = [e for e in w.events if isinstance(e, kinds)]
    assert {type(e) for e in mine} == set(kinds)
    for event in mine:
        assert event_from_dict(event.to_dict()) == event


@pytest.mark.parametrize(
    ("kind", "field", "value", "message"),
    [
        (MetricDefined, "tolerance", "0.1", "metric.defined.tolerance: expected a number"),
        (MetricDefined, "tolerance", True, "expected a number"),
        (MetricDefined, "issue", 3, "metric.defined.issue: expected text"),
        (MetricDefined, "metric", "A", "metric.defined.metric"),
        (AttestationFiled, "value", None, "attestation.filed.value: expected a number"),
        (AttestationFiled, "site", "A", "attestation.filed.site"),
        (AttestationQuorumReached, "attestations", ["zz"], "attestation.quorum_reached.attestations.0"),
        (AttestationConflictFlagged, "attestation", "zz", "attestation.conflict_flagged.attestation"),
    ],
)
def test_attestation_events_decode_strictly(
    w: World, kind: type, field: str, value: object, message: str
) -> None:
    w.admit("unscom", PartyKind.INSPECTOR)
    define(w, "m.three", inspectors=("iaea", "euratom", "unscom"), quorum=2)
    attest(w, "iaea/lead", 3.6, metric="m.three")
    attest(w, "euratom/lead", 5, metric="m.three")
    attest(w, "unscom/lead", 3.6, metric="m.three")
    event = next(e for e in w.events if isinstance(e, kind))
    raw = {**event.to_dict(), field: value}
    with pytest.raises(EncodingError, match=message):
        event_from_dict(raw)


def test_the_fold_refuses_events_about_unknown_windows(w: World) -> None:
    (filed,) = attest(w, "iaea/lead", 3.6)
    flag = AttestationConflictFlagged(
        by="iaea/lead", at=w.now, command_digest=b"\x01" * 32, metric=METRIC, site="elsewhere",
        window_start=filed.window_start, attestation=filed.attestation_id, conflicts_with=(),
    )  # fmt: skip
    with pytest.raises(TrackStateError, match="cannot be applied"):
        evolve(w.s, flag)
    unknown = AttestationFiled(
        by="iaea/lead", at=w.now, command_digest=b"\x02" * 32, metric="no.metric", value=1, unit="%",
        observed_at=w.now, site="s", window_start=w.now,
    )  # fmt: skip
    with pytest.raises(TrackStateError, match="cannot be applied"):
        evolve(w.s, unknown)


# --- visibility ------------------------------------------------------------------------------------


def test_who_sees_attestations(w: World) -> None:
    w.admit("unscom", PartyKind.INSPECTOR)
    define(w, "m.three", inspectors=("iaea", "euratom", "unscom"), quorum=2)
    (a,) = attest(w, "iaea/lead", 3.6, metric="m.three")
    b, flag = attest(w, "euratom/lead", 5, metric="m.three")
    c, _, quorum = attest(w, "unscom/lead", 3.6, metric="m.three")
    defined = next(e for e in w.events if isinstance(e, MetricDefined))
    s = w.s
    for member in ("med/chair", "med/service", "usa/lead", "iran/watcher"):
        assert all(visible_to(s, member, e) for e in (defined, a, b, c, flag, quorum)), member
    assert not any(visible_to(s, "swiss/lead", e) for e in (defined, a, flag, quorum))
    # each inspector: the definitions, its own attestation, and quorum/conflict events naming one of its own
    assert [visible_to(s, "iaea/lead", e) for e in (defined, a, b, c, flag, quorum)] == [
        True, True, False, False, True, True,
    ]  # fmt: skip
    assert [visible_to(s, "euratom/lead", e) for e in (defined, a, b, c, flag, quorum)] == [
        True, False, True, False, True, False,
    ]  # fmt: skip
    assert [visible_to(s, "unscom/lead", e) for e in (a, b, c, flag, quorum)] == [
        False,
        False,
        True,
        False,
        True,
    ]


def test_the_envelope_is_checked_like_every_command() -> None:
    from backchannel.domain.command_envelope import CommandEnvelope as Signed

    with pytest.raises(SchemaViolationError) as caught:
        Signed(track="T", member="x", key_id="k", issued_at=NAIVE, digest=b"", idempotency_key="")
    assert fields_of(caught) == ["track", "member", "key_id", "issued_at", "digest", "idempotency_key"]
    ok = Signed(
        track="t",
        member="a/b",
        key_id="ed25519:" + "0" * 32,
        issued_at=datetime.now(UTC),
        digest=b"\x00" * 32,
    )
    assert ok.idempotency_key is None
