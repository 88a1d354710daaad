"""Obligations fed by counted attestations: the seam of ADR-0018 connected in ``file_attestation``.

The world (``agreements_world.compliance``) has inspectors ``iaea`` and
``euratom``; here the metric ``enriched_kg`` (kg, panel iaea + euratom, quorum
2, absolute tolerance 0.1, daily windows) is consumption, and obligation
``iran-enrichment`` (5 kg per 30 days, burst 20 kg, hold 14 days, 50%
recovery) binds ``iran`` on it, shared with ``usa``.
"""

from datetime import timedelta
from typing import Any

import pytest
from agreements_world import DAY, attest, attest_cmd, compliance, define
from track_world import World

from backchannel.domain import DefineObligation, PartyKind, RecordConsumption, decide, visible_to
from backchannel.domain.agreements.attestation_events import AttestationQuorumReached
from backchannel.domain.agreements.obligation_events import (
    ObligationDeescalated,
    ObligationEscalated,
    ObligationMetered,
)
from backchannel.domain.agreements.obligations import MICRO
from backchannel.domain.errors import SchemaViolationError
from backchannel.domain.events import Event
from backchannel.domain.ids import message_id_of

METRIC = "enriched_kg"
LADDER = ("none", "sanctions-tier-1", "sanctions-tier-2", "sanctions-tier-3")
TERMS: dict[str, Any] = {
    "obligation": "iran-enrichment",
    "party": "iran",
    "metric": METRIC,
    "unit": "kg",
    "rate": 5,
    "burst": 20,
    "period_seconds": 30 * 86_400,
    "ladder": LADDER,
    "hold_seconds": 14 * 86_400,
    "recovery_pct": 50,
    "shared_with": ("usa",),
}


def oblige(w: World, **changes: Any) -> None:
    w.run(w.cmd(DefineObligation, "med/chair", **{**TERMS, **changes}))


def kg(w: World, by: str, value: float, ago: timedelta = timedelta(0), **fields: Any) -> list[Event]:
    return attest(w, by, value, w.now - ago, metric=METRIC, unit="kg", **fields)


@pytest.fixture
def w() -> World:
    w = compliance()
    define(w, METRIC, unit="kg")
    oblige(w)
    return w


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def test_a_quorum_meters_the_counted_value_against_the_obligation(w: World) -> None:
    first = kg(w, "iaea/lead", 3.0, timedelta(hours=2))
    assert types(first) == ["attestation.filed"]  # no quorum yet: nothing metered
    assert w.s.obligations["iran-enrichment"].records == 0
    w.tick(60)
    command = attest_cmd(w, "euratom/lead", 3.05, w.now - timedelta(hours=1), metric=METRIC, unit="kg")
    events = w.run(command)
    assert types(events) == ["attestation.filed", "attestation.quorum_reached", "obligation.metered"]
    quorum, metered = events[1], events[2]
    assert isinstance(quorum, AttestationQuorumReached)
    assert isinstance(metered, ObligationMetered)
    # the counted value (the low median, iaea's 3.0), observed when iaea observed it, from its attestation
    counted = first[0].attestation_id  # type: ignore[attr-defined]
    assert (quorum.value, quorum.attestations[0]) == (3.0, counted)
    assert (metered.obligation, metered.amount, metered.unit) == ("iran-enrichment", "3", "kg")
    assert metered.observed_at == w.now - timedelta(hours=2, seconds=60)
    assert (metered.source, metered.command_digest, metered.by) == (counted, command.digest, "euratom/lead")
    assert (metered.available, metered.tokens, metered.overdraw, metered.level) == ("20", "17", "0", 0)
    record = w.s.obligations["iran-enrichment"]
    assert (record.records, record.consumed, record.level) == (1, 3 * MICRO, 0)


def test_an_overdraw_escalates_and_a_later_counted_value_takes_the_steps_down_due_first(w: World) -> None:
    (first,) = kg(w, "iaea/lead", 30)
    events = kg(w, "euratom/lead", 30)
    assert types(events)[2:] == ["obligation.metered", "obligation.escalated"]
    up = events[3]
    assert isinstance(up, ObligationEscalated)
    assert (up.from_level, up.to_level, up.tier) == (0, 1, "sanctions-tier-1")
    assert (up.overdraw, up.tokens) == ("10", "-10")
    # the cause: the command that reached the quorum; the source: the attestation whose value counts
    (step,) = w.s.obligations["iran-enrichment"].steps
    assert (step.command_digest, step.source) == (events[0].command_digest, first.attestation_id)  # type: ignore[attr-defined]
    # 120 days of refill pay the debt back to 10 kg (50% of the burst): the step down comes first
    w.tick(120 * 86_400)
    kg(w, "iaea/lead", 0)
    later = kg(w, "euratom/lead", 0)
    assert types(later)[2:] == ["obligation.deescalated", "obligation.metered"]
    down = later[2]
    assert isinstance(down, ObligationDeescalated)
    assert (down.from_level, down.to_level, down.tokens) == (1, 0, "10")
    assert w.s.obligations["iran-enrichment"].level == 0


def test_one_inspector_of_a_two_of_two_panel_meters_nothing(w: World) -> None:
    assert types(kg(w, "iaea/lead", 30)) == ["attestation.filed"]
    assert types(kg(w, "iaea/lead", 30, DAY)) == ["attestation.filed"]  # another window, still alone
    record = w.s.obligations["iran-enrichment"]
    assert (record.records, record.level) == (0, 0)


def test_conflicting_values_reach_no_quorum_and_meter_nothing(w: World) -> None:
    kg(w, "iaea/lead", 3)
    assert types(kg(w, "euratom/lead", 30)) == ["attestation.filed", "attestation.conflict_flagged"]
    assert w.s.obligations["iran-enrichment"].records == 0


def test_a_window_is_metered_once_each_site_on_its_own(w: World) -> None:
    w.admit("abacc", PartyKind.INSPECTOR)
    define(w, "enriched_kg2", unit="kg", inspectors=("iaea", "euratom", "abacc"))
    oblige(w, obligation="iran-2", metric="enriched_kg2")
    at = {"metric": "enriched_kg2", "unit": "kg"}
    attest(w, "iaea/lead", 3, **at)
    assert types(attest(w, "euratom/lead", 3, **at))[-1] == "obligation.metered"
    # the counted value is final: a third attestation of the window meters nothing
    assert types(attest(w, "abacc/lead", 3, **at)) == ["attestation.filed"]
    # another site's quorum is a record of its own
    attest(w, "iaea/lead", 4, site="fordow", **at)
    assert types(attest(w, "euratom/lead", 4, site="fordow", **at))[-1] == "obligation.metered"
    record = w.s.obligations["iran-2"]
    assert (record.records, record.consumed) == (2, 7 * MICRO)


def test_every_obligation_on_the_metric_is_metered_and_no_other(w: World) -> None:
    oblige(w, obligation="usa-enrichment", party="usa", shared_with=())
    oblige(w, obligation="iran-other", metric="other_kg")
    kg(w, "iaea/lead", 1)
    events = kg(w, "euratom/lead", 1)
    metered = [e.obligation for e in events if isinstance(e, ObligationMetered)]
    assert metered == ["iran-enrichment", "usa-enrichment"]
    assert w.s.obligations["iran-other"].records == 0


def test_an_obligation_in_another_unit_than_its_attested_metric_is_refused(w: World) -> None:
    """It would never be fed: refused when defined, whichever comes first."""
    with pytest.raises(
        SchemaViolationError, match="unit: 't' is not 'kg', the unit enriched_kg is attested in"
    ):
        oblige(w, obligation="iran-tonnes", unit="t")
    assert "iran-tonnes" not in w.s.obligations
    later = compliance()
    oblige(later, unit="t")  # no metric of that name yet: its own unit stands
    with pytest.raises(
        SchemaViolationError, match="obligation\\(s\\) iran-enrichment meter enriched_kg in another"
    ):
        define(later, METRIC, unit="kg")
    define(later, METRIC, unit="t")  # the same unit is fine


def test_an_observation_in_the_future_skew_is_metered_at_the_decision_time(w: World) -> None:
    ahead = w.now + timedelta(minutes=2)
    attest(w, "iaea/lead", 1, ahead, metric=METRIC, unit="kg")
    events = attest(w, "euratom/lead", 1, ahead, metric=METRIC, unit="kg")
    metered = events[-1]
    assert isinstance(metered, ObligationMetered)
    assert metered.observed_at == metered.metered_at == w.now


@pytest.mark.parametrize(("value", "rule"), [(-1, "range"), (3.1234567, "precision"), (1e10, "range")])
def test_on_a_metered_metric_a_value_must_be_a_consumption_amount(w: World, value: float, rule: str) -> None:
    size = len(w.events)
    with pytest.raises(SchemaViolationError) as caught:
        kg(w, "iaea/lead", value)
    ((field, got),) = [(v.field, v.rule) for v in caught.value.violations]
    assert (field, got) == ("value", rule)
    assert "enriched_kg meters obligation iran-enrichment" in str(caught.value)
    assert len(w.events) == size
    # a metric that meters nothing takes any finite value, as before
    assert types(attest(w, "iaea/lead", -1)) == ["attestation.filed"]


def test_a_counted_value_filed_before_the_obligation_that_is_no_amount_meters_nothing() -> None:
    w = compliance()
    define(w, METRIC, unit="kg")
    kg(w, "iaea/lead", 3.0000001)  # 7 decimals: fine while no obligation meters the metric
    oblige(w)
    events = kg(w, "euratom/lead", 3.05)  # the low median is the 7-decimal value
    assert types(events) == ["attestation.filed", "attestation.quorum_reached"]
    assert w.s.obligations["iran-enrichment"].records == 0


def test_re_deciding_the_command_gives_the_same_events(w: World) -> None:
    kg(w, "iaea/lead", 30)
    before = w.s
    command = attest_cmd(w, "euratom/lead", 30, metric=METRIC, unit="kg")
    assert decide(before, command, w.now) == decide(before, command, w.now)
    assert types(decide(before, command, w.now))[2:] == ["obligation.metered", "obligation.escalated"]


def test_the_metering_follows_the_obligation_visibility_rule(w: World) -> None:
    w.admit("abacc", PartyKind.INSPECTOR)  # an inspector off the metric's panel
    kg(w, "iaea/lead", 30)
    events = kg(w, "euratom/lead", 30)
    quorum, metered, escalated = events[1], events[2], events[3]
    for member in ("med/chair", "iran/lead", "usa/lead", "iaea/lead", "euratom/lead", "abacc/lead"):
        assert visible_to(w.s, member, metered), member
        assert visible_to(w.s, member, escalated), member
    assert not visible_to(w.s, "swiss/lead", metered)
    # ADR-0018's rule is kept: every inspector sees obligation events, though not another panel's quorum
    assert not visible_to(w.s, "abacc/lead", quorum)
    oblige(w, obligation="iran-private", shared_with=())
    kg(w, "iaea/lead", 1, DAY)
    (private,) = [e for e in kg(w, "euratom/lead", 1, DAY) if getattr(e, "obligation", "") == "iran-private"]
    assert visible_to(w.s, "iran/lead", private)
    assert not visible_to(w.s, "usa/lead", private)


def test_record_consumption_stays_open_to_inspectors_beside_the_attestations(w: World) -> None:
    w.run(
        w.cmd(
            RecordConsumption, "iaea/lead", obligation="iran-enrichment", amount=2, unit="kg",
            observed_at=w.now, source="iaea-report-7",
        )
    )  # fmt: skip
    kg(w, "iaea/lead", 3)
    kg(w, "euratom/lead", 3)
    record = w.s.obligations["iran-enrichment"]
    assert (record.records, record.consumed) == (2, 5 * MICRO)
    assert message_id_of(w.events[-1].command_digest) in w.s.attestations.attestations
