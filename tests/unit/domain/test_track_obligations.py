"""Obligations (ADR-0018): the engine's arithmetic, the commands' rules, events, state and visibility."""

from datetime import timedelta

import pytest
from track_world import MEMBERS, World

from backchannel.domain import (
    DefineObligation,
    RecordConsumption,
    ReviewObligation,
    event_from_dict,
    fold,
    visible_to,
)
from backchannel.domain._rules import stamp
from backchannel.domain.agreements import obligation_rules
from backchannel.domain.agreements.obligation_events import (
    ObligationDeescalated,
    ObligationDefined,
    ObligationEscalated,
    ObligationMetered,
)
from backchannel.domain.agreements.obligation_rules import UnknownObligationError, meter_attested
from backchannel.domain.agreements.obligations import (
    MICRO,
    Bucket,
    Consumption,
    ObligationSpec,
    advance,
    instant_of,
    instant_us,
    meter,
    micro_from_text,
    micro_text,
    next_step_down,
    quantity_micro,
    spec_violations,
    start,
    ticks_text,
    tokens_at,
)
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError
from backchannel.domain.ids import PartyKind
from backchannel.errors import EncodingError
from backchannel.log.canonical import canonicalize, loads_strict

DAY = 86_400
LADDER = ("none", "sanctions-tier-1", "sanctions-tier-2", "sanctions-tier-3")
TERMS = {
    "obligation": "iran-enrichment",
    "party": "iran",
    "metric": "enriched_kg",
    "unit": "kg",
    "rate": 5,
    "burst": 20,
    "period_seconds": 30 * DAY,
    "ladder": LADDER,
    "hold_seconds": 14 * DAY,
    "recovery_pct": 50,
    "shared_with": ("usa",),
}


def spec(**changes: object) -> ObligationSpec:
    terms = {**TERMS, **changes}
    terms["rate"] = quantity_micro(terms["rate"], "rate", positive=True)[0]
    terms["burst"] = quantity_micro(terms["burst"], "burst", positive=True)[0]
    return ObligationSpec(**terms)


def define(world: World, by: str = "med/chair", **changes: object) -> list:
    return world.run(world.cmd(DefineObligation, by, **{**TERMS, **changes}))


def record(world: World, amount: float, *, by: str = "iaea/lead", ago: float = 0, **changes: object) -> list:
    fields = {
        "obligation": "iran-enrichment",
        "amount": amount,
        "unit": "kg",
        "observed_at": world.now - timedelta(seconds=ago),
        "source": "att-1",
        **changes,
    }
    return world.run(world.cmd(RecordConsumption, by, **fields))


def review(world: World, by: str = "med/service", obligation: str = "iran-enrichment") -> list:
    return world.run(world.cmd(ReviewObligation, by, obligation=obligation))


def violations(error: pytest.ExceptionInfo[SchemaViolationError]) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in error.value.violations}


# --------------------------------------------------------------------------------------------------
# Quantities, instants, terms
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "micro"),
    [
        (0, 0),
        (3.67, 3_670_000),
        (20, 20_000_000),
        (0.000001, 1),
        (999_999_999.999999, 10**15 - 1),
        (1e2, 10**8),
    ],
)
def test_quantities_are_exact_micro_units(value: float, micro: int) -> None:
    assert quantity_micro(value, "amount", positive=False) == (micro, [])
    assert micro_from_text(micro_text(micro), "x") == micro


@pytest.mark.parametrize(
    ("value", "positive", "rule"),
    [
        ("3", False, "type"),
        (True, False, "type"),
        (None, False, "type"),
        (0.0000001, False, "precision"),
        (float("inf"), False, "precision"),
        (float("nan"), False, "precision"),
        (1e300, False, "range"),
        (-1, False, "range"),
        (0, True, "range"),
        (10**9, False, "range"),
    ],
)
def test_bad_quantities_name_the_field_and_rule(value: object, positive: bool, rule: str) -> None:
    micro, found = quantity_micro(value, "rate", positive=positive)
    assert micro == 0
    assert [(v.field, v.rule) for v in found] == [("rate", rule)]
    assert found[0].message.startswith("rate: ")


@pytest.mark.parametrize(
    ("micro", "text"),
    [(0, "0"), (3_500_000, "3.5"), (-1, "-0.000001"), (-10_000_000, "-10"), (123, "0.000123")],
)
def test_micro_text_is_one_exact_form(micro: int, text: str) -> None:
    assert micro_text(micro) == text
    assert micro_from_text(text, "x") == micro


@pytest.mark.parametrize(
    "text", ["3.50", "-0", "01", "1e3", "+1", " 1", "", 3, None, "1." + "1" * 30, "0.0000001"]
)
def test_other_decimal_forms_are_refused(text: object) -> None:
    with pytest.raises(SchemaViolationError, match="tokens: .* is not an exact decimal"):
        micro_from_text(text, "tokens")


def test_ticks_round_down_or_up_to_the_micro_unit() -> None:
    assert ticks_text(7, 3) == "0.000002"
    assert ticks_text(7, 3, up=True) == "0.000003"
    assert ticks_text(-7, 3) == "-0.000003"
    assert ticks_text(6, 3, up=True) == "0.000002"


def test_instants_are_microseconds_since_the_epoch(make_world: type[World]) -> None:
    now = make_world().now
    assert instant_of(instant_us(now)) == now
    assert instant_us(instant_of(1)) == 1


def test_the_tick_arithmetic_of_a_spec() -> None:
    s = spec()
    period_us = 30 * DAY * MICRO
    assert s.scale * 5_000_000 == s.refill * period_us  # one micro-unit of rate per period, in ticks
    assert (s.scale, s.refill) == (518_400, 1)
    assert s.burst_ticks == 20 * MICRO * s.scale
    assert s.threshold == 50 * s.burst_ticks
    assert s.hold_us == 14 * DAY * MICRO
    assert (s.top, s.tier(2), s.text(-s.scale)) == (3, "sanctions-tier-2", "-0.000001")


def test_spec_violations_list_every_bad_field() -> None:
    found = spec_violations(
        obligation="Bad Id",
        party="Iran",
        metric="9kg",
        unit="",
        rate=0,
        burst="lots",
        period_seconds=0,
        ladder=("none",),
        hold_seconds=True,
        recovery_pct=101,
        shared_with=("usa", "usa"),
    )
    assert {(v.field, v.rule) for v in found} == {
        ("obligation", "pattern"),
        ("party", "pattern"),
        ("metric", "pattern"),
        ("unit", "length"),
        ("rate", "range"),
        ("burst", "type"),
        ("period_seconds", "range"),
        ("ladder", "items"),
        ("hold_seconds", "range"),
        ("recovery_pct", "range"),
        ("shared_with", "unique"),
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ladder": ("none", "none")}, ("ladder", "unique")),
        ({"ladder": ("none", "Tier 1")}, ("ladder.1", "pattern")),
        ({"ladder": ["none", "a"]}, ("ladder", "items")),
        ({"ladder": tuple(f"t{i}" for i in range(17))}, ("ladder", "items")),
        ({"shared_with": ("iran",)}, ("shared_with", "bound_party")),
        ({"shared_with": ["usa"]}, ("shared_with", "items")),
        ({"shared_with": ("Bad",)}, ("shared_with.0", "pattern")),
        ({"unit": "k\ng"}, ("unit", "length")),
        ({"recovery_pct": True}, ("recovery_pct", "range")),
        ({"period_seconds": 10 * 366 * DAY + 1}, ("period_seconds", "range")),
    ],
)
def test_one_bad_term(changes: dict[str, object], expected: tuple[str, str]) -> None:
    found = spec_violations(**{**TERMS, **changes})
    assert [(v.field, v.rule) for v in found] == [expected]


def test_a_spec_checks_its_own_fields() -> None:
    with pytest.raises(SchemaViolationError) as error:
        ObligationSpec(**{**TERMS, "rate": 0, "burst": 2.5, "recovery_pct": -1})
    assert violations(error) == {("rate", "range"), ("burst", "range"), ("recovery_pct", "range")}


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------


def test_a_bucket_starts_full_and_refills_continuously_up_to_the_burst() -> None:
    s = spec()
    b = start(s, 0)
    assert b == Bucket(0, s.burst_ticks, 0, 0)
    b, downs, m = meter(s, b, 0, 20 * MICRO)
    assert (downs, m.available, m.tokens, m.overdraw, m.level) == ([], s.burst_ticks, 0, 0, 0)
    six_days = 6 * DAY * MICRO
    assert tokens_at(s, b, six_days) == 1 * MICRO * s.scale  # 5 kg per 30 days: 1 kg in 6 days
    assert tokens_at(s, b, 10**18) == s.burst_ticks


def test_an_overdraw_goes_into_debt_and_steps_up_once() -> None:
    s = spec()
    b, _, m = meter(s, start(s, 0), 10, 30 * MICRO)
    assert (m.available, m.tokens, m.overdraw) == (s.burst_ticks, -10 * MICRO * s.scale, 10 * MICRO * s.scale)
    assert (m.from_level, m.level, b.calm_since, b.clock) == (0, 1, 10, 10)
    b, _, m = meter(s, b, 20, 1)  # any consumption while in debt overdraws again
    assert (m.overdraw, m.level) == (s.scale, 2)
    b, _, m = meter(s, b, 30, 0)  # consuming nothing never overdraws
    assert (m.overdraw, m.level, b.calm_since) == (0, 2, 20)


def test_the_top_tier_holds_but_restarts_the_hold() -> None:
    s = spec(ladder=("ok", "bad"))
    b, _, _ = meter(s, start(s, 0), 0, 30 * MICRO)
    b, _, m = meter(s, b, 5, 1)
    assert (m.from_level, m.level, b.calm_since) == (1, 1, 5)


def test_steps_down_after_the_hold_and_the_recovery_threshold() -> None:
    s = spec()
    b, _, _ = meter(s, start(s, 0), 0, 30 * MICRO)  # -10 kg at t=0, level 1
    # 10 kg (50% of 20) needs 20 kg of refill: 120 days; the hold alone is 14 days
    due = next_step_down(s, b)
    assert due == 120 * DAY * MICRO
    assert advance(s, b, due - 1) == (b, [])
    after, downs = advance(s, b, due)
    assert [(d.at, d.from_level, d.to_level, d.tokens, d.held_since) for d in downs] == [
        (due, 1, 0, 10 * MICRO * s.scale, 0)
    ]
    assert after == Bucket(due, 10 * MICRO * s.scale, 0, due)
    assert next_step_down(s, after) is None


def test_steps_down_cascade_one_tier_per_hold() -> None:
    s = spec(recovery_pct=0, hold_seconds=DAY)
    b = start(s, 0)
    for t in range(3):
        b, _, _ = meter(s, b, t, 21 * MICRO if t == 0 else 0)
    assert b.level == 1  # only the first overdrew
    b, _, _ = meter(s, b, 3, 100 * MICRO)
    b, _, _ = meter(s, b, 4, 1)
    assert b.level == 3
    repaid = next_step_down(s, b)
    assert repaid == 4 + -(b.tokens // s.refill)  # the debt repaid (recovery_pct 0); the hold is shorter
    after, downs = advance(s, b, 10**16)
    assert [d.at for d in downs] == [repaid, repaid + DAY * MICRO, repaid + 2 * DAY * MICRO]
    assert [d.held_since for d in downs] == [4, repaid, repaid + DAY * MICRO]
    assert after.level == 0


def test_a_record_is_metered_after_the_steps_due_before_it_and_never_before_the_clock() -> None:
    s = spec(recovery_pct=0, hold_seconds=1)
    b, _, _ = meter(s, start(s, 0), 0, 20 * MICRO + 1)  # one micro-unit of debt
    due = next_step_down(s, b)
    assert due is not None
    b, downs, m = meter(s, b, due, 0)  # due exactly when the record is observed: the step first
    assert [d.to_level for d in downs] == [0]
    assert (m.from_level, m.level, m.at) == (0, 0, due)
    b, _, m = meter(s, b, due - 100, 0)  # observed before the clock: metered at the clock
    assert (m.observed_at, m.at) == (due - 100, due)


# --------------------------------------------------------------------------------------------------
# define_obligation
# --------------------------------------------------------------------------------------------------


def test_the_mediator_defines_an_obligation(world: World) -> None:
    (event,) = define(world)
    assert isinstance(event, ObligationDefined)
    assert event.spec == spec()
    record_ = world.s.obligations["iran-enrichment"]
    assert (record_.level, record_.tier, record_.defined_by, record_.defined_at) == (
        0,
        "none",
        "med/chair",
        world.now,
    )
    assert record_.tokens(world.now + timedelta(days=1)) == spec().burst_ticks
    assert record_.next_step_down() is None
    assert list(obligation_rules.records(world.s)) == [record_]


@pytest.mark.parametrize("member", [m for m in MEMBERS if m != "med/chair"])
def test_only_a_mediator_principal_defines(world: World, member: str) -> None:
    with pytest.raises(NotAuthorizedError, match="may not define obligations"):
        define(world, by=member)


def test_an_obligation_id_is_defined_once(world: World) -> None:
    define(world)
    with pytest.raises(TrackStateError, match="already defined"):
        define(world)


def test_the_bound_and_shared_parties_must_fit(world: World) -> None:
    with pytest.raises(SchemaViolationError) as error:
        define(world, party="iaea", shared_with=("nobody", "swiss", "usa"))
    assert violations(error) == {
        ("party", "delegation"),
        ("shared_with.0", "party"),
        ("shared_with.1", "party"),
    }
    with pytest.raises(SchemaViolationError, match="party: ghost is not part of the track"):
        define(world, party="ghost")
    assert "iran-enrichment" not in world.s.obligations


def test_the_unit_must_match_the_agenda_issue_it_names(world: World) -> None:
    with pytest.raises(SchemaViolationError) as error:
        define(world, metric="enrichment_cap_pct", unit="kg")
    assert violations(error) == {("unit", "unit")}
    assert "does not match the agenda's '%' for enrichment_cap_pct" in str(error.value)
    with pytest.raises(SchemaViolationError) as error:
        define(world, metric="snapback")
    assert violations(error) == {("metric", "number_issue")}
    (event,) = define(world, metric="enrichment_cap_pct", unit="%")
    assert event.spec.unit == "%"


def test_a_metric_of_its_own_without_an_agenda(make_world: type[World]) -> None:
    w = make_world()
    w.open()
    w.admit("iran")
    (event,) = define(w, shared_with=())
    assert event.spec.metric == "enriched_kg"


def test_a_malformed_define_names_each_field(world: World) -> None:
    with pytest.raises(SchemaViolationError) as error:
        world.cmd(DefineObligation, "med/chair", **{**TERMS, "rate": -1, "ladder": ("x",)})
    assert violations(error) == {("rate", "range"), ("ladder", "items")}


# --------------------------------------------------------------------------------------------------
# record_consumption and review_obligation
# --------------------------------------------------------------------------------------------------


def test_an_inspector_records_consumption_and_an_overdraw_escalates(world: World) -> None:
    define(world)
    world.tick(60)
    events = record(world, 30, ago=30)
    metered, escalated = events
    assert isinstance(metered, ObligationMetered)
    assert isinstance(escalated, ObligationEscalated)
    assert (metered.amount, metered.available, metered.tokens, metered.overdraw) == ("30", "20", "-10", "10")
    assert (metered.level, metered.tier, metered.source, metered.overdrew) == (
        1,
        "sanctions-tier-1",
        "att-1",
        True,
    )
    assert metered.metered_at == metered.observed_at == world.now - timedelta(seconds=30)
    assert (escalated.from_level, escalated.to_level, escalated.tier) == (0, 1, "sanctions-tier-1")
    assert escalated.effective_at == metered.metered_at
    assert escalated.command_digest == metered.command_digest
    r = world.s.obligations["iran-enrichment"]
    assert (r.level, r.records, r.consumed, r.overdraws) == (1, 1, 30 * MICRO, 1)
    (step,) = r.steps
    assert (step.from_level, step.to_level, step.overdraw, step.tokens, step.source) == (
        0,
        1,
        "10",
        "-10",
        "att-1",
    )
    assert step.observed_at == metered.observed_at
    assert step.held_since is None


def test_the_service_may_record_and_a_within_limits_record_does_not_escalate(world: World) -> None:
    define(world)
    (metered,) = record(world, 2.5, by="med/service", source=None)
    assert (metered.overdraw, metered.tokens, metered.level, metered.source) == ("0", "17.5", 0, None)
    assert world.s.obligations["iran-enrichment"].overdraws == 0


@pytest.mark.parametrize("member", [m for m in MEMBERS if m not in {"iaea/lead", "med/service"}])
def test_only_inspectors_and_the_service_record_consumption(world: World, member: str) -> None:
    define(world)
    with pytest.raises(NotAuthorizedError, match="may not record consumption"):
        record(world, 1, by=member)


def test_an_inspector_delegate_records_but_not_an_observer(world: World) -> None:
    from backchannel.domain import Role

    define(world)
    world.enroll("iaea/field", Role.DELEGATE)
    world.enroll("iaea/auditor", Role.OBSERVER)
    assert record(world, 1, by="iaea/field")
    with pytest.raises(NotAuthorizedError):
        record(world, 1, by="iaea/auditor")


def test_recording_against_an_unknown_obligation(world: World) -> None:
    with pytest.raises(UnknownObligationError, match="no obligation 'nope' visible to iaea"):
        record(world, 1, obligation="nope")


def test_the_unit_must_be_the_obligations(world: World) -> None:
    define(world)
    with pytest.raises(SchemaViolationError) as error:
        record(world, 1, unit="t")
    assert violations(error) == {("unit", "unit")}
    assert world.s.obligations["iran-enrichment"].records == 0


def test_a_future_observation_is_refused(world: World) -> None:
    define(world)
    with pytest.raises(SchemaViolationError) as error:
        record(world, 1, ago=-1)
    assert violations(error) == {("observed_at", "future")}


def test_a_malformed_record_names_each_field(world: World) -> None:
    with pytest.raises(SchemaViolationError) as error:
        world.cmd(
            RecordConsumption,
            "iaea/lead",
            obligation="X",
            amount=-1,
            unit="",
            observed_at=world.now.replace(tzinfo=None),
            source="",
        )
    assert violations(error) == {
        ("obligation", "pattern"),
        ("amount", "range"),
        ("unit", "length"),
        ("observed_at", "type"),
        ("source", "length"),
    }
    with pytest.raises(SchemaViolationError) as error:
        world.cmd(ReviewObligation, "med/service", obligation="")
    assert violations(error) == {("obligation", "pattern")}


def test_a_review_steps_down_when_due_and_refuses_when_not(world: World) -> None:
    define(world, hold_seconds=60, rate=20, period_seconds=100, recovery_pct=0)
    record(world, 25)  # 5 kg of debt, refilled at 0.2 kg/s: 25 s; the hold is 60 s
    with pytest.raises(TrackStateError, match="no step down is due .*the next is due at"):
        review(world)
    world.tick(60)
    (down,) = review(world)
    assert isinstance(down, ObligationDeescalated)
    assert (down.from_level, down.to_level, down.tier, down.tokens) == (1, 0, "none", "7")
    assert down.effective_at == down.held_since + timedelta(seconds=60)
    r = world.s.obligations["iran-enrichment"]
    assert (r.level, r.steps[-1].held_since, r.steps[-1].tokens) == (0, down.held_since, "7")
    with pytest.raises(TrackStateError, match="it is at the lowest tier"):
        review(world)


def test_a_record_takes_the_due_steps_down_first(world: World) -> None:
    define(world, hold_seconds=60, rate=20, period_seconds=100, recovery_pct=0)
    record(world, 25)
    world.tick(200)
    down, metered = record(world, 1)
    assert (down.to_level, metered.level) == (0, 0)
    assert down.effective_at < metered.metered_at


@pytest.mark.parametrize("member", [m for m in MEMBERS if m != "med/service"])
def test_only_the_service_reviews(world: World, member: str) -> None:
    define(world)
    with pytest.raises(NotAuthorizedError, match="may not review obligations"):
        review(world, by=member)


def test_reviewing_an_unknown_obligation(world: World) -> None:
    with pytest.raises(UnknownObligationError):
        review(world, obligation="nope")


# --------------------------------------------------------------------------------------------------
# The attestation seam
# --------------------------------------------------------------------------------------------------


def test_meter_attested_meters_every_matching_obligation(world: World) -> None:
    define(world)
    define(world, obligation="iran-b", burst=40)
    define(world, obligation="usa-a", party="usa", shared_with=())
    define(world, obligation="iran-t", unit="t")
    define(world, obligation="iran-other", metric="other_kg")
    command = world.cmd(ReviewObligation, "med/service", obligation="iran-b")  # any command: the stamp
    consumption = Consumption("enriched_kg", 30 * MICRO, "kg", world.now, "quorum-1", "iran")
    events = meter_attested(world.s, consumption, stamp(command, world.now))
    assert [(e.type, e.obligation) for e in events] == [
        ("obligation.metered", "iran-b"),
        ("obligation.metered", "iran-enrichment"),
        ("obligation.escalated", "iran-enrichment"),
    ]
    every_party = Consumption("enriched_kg", 0, "kg", world.now)
    events = meter_attested(world.s, every_party, stamp(command, world.now))
    assert [e.obligation for e in events] == ["iran-b", "iran-enrichment", "usa-a"]
    with pytest.raises(SchemaViolationError):
        meter_attested(
            world.s, Consumption("enriched_kg", 0, "kg", world.now + timedelta(1)), stamp(command, world.now)
        )


# --------------------------------------------------------------------------------------------------
# Events, state and visibility
# --------------------------------------------------------------------------------------------------


def history(world: World) -> list:
    start_ = len(world.events)
    define(world, hold_seconds=60, rate=20, period_seconds=100, recovery_pct=0)
    record(world, 25)
    world.tick(100)
    review(world)
    return world.events[start_:]


def test_every_obligation_event_round_trips(world: World) -> None:
    events = history(world)
    assert [e.type for e in events] == [
        "obligation.defined",
        "obligation.metered",
        "obligation.escalated",
        "obligation.deescalated",
    ]
    for event in events:
        data = event.to_dict()
        assert event_from_dict(data) == event
        wire = canonicalize(data)
        assert canonicalize(event_from_dict(loads_strict(wire)).to_dict()) == wire
    assert fold(world.events) == world.s


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("obligation.defined", "rate", 5),
        ("obligation.defined", "burst", "20.0"),
        ("obligation.defined", "ladder", ["none"]),
        ("obligation.metered", "amount", "-0"),
        ("obligation.metered", "tokens", 1.5),
        ("obligation.metered", "source", ""),
        ("obligation.escalated", "to_level", 0),
        ("obligation.deescalated", "held_since", "yesterday"),
    ],
)
def test_malformed_obligation_events_are_refused(world: World, kind: str, field: str, value: object) -> None:
    (event,) = [e for e in history(world) if e.type == kind]
    data = {**event.to_dict(), field: value}
    with pytest.raises(EncodingError, match=kind):
        event_from_dict(data)


# Parties (besides the mediator, which sees everything) that see iran's obligation, shared with usa.
SEES = {"iran", "usa", "iaea"}


@pytest.mark.parametrize("member", MEMBERS)
def test_obligation_events_are_visible_to_the_bound_party_inspectors_and_shared_parties(
    world: World, member: str
) -> None:
    events = history(world)
    party = member.partition("/")[0]
    for event in events:
        assert visible_to(world.s, member, event) is (party == "med" or party in SEES), (member, event.type)


def test_an_unshared_obligation_is_hidden_from_the_other_delegation(world: World) -> None:
    (event,) = define(world, shared_with=())
    assert not visible_to(world.s, "usa/lead", event)
    assert visible_to(world.s, "iran/watcher", event)
    assert visible_to(world.s, "iaea/lead", event)
    assert world.s.parties["iaea"].kind is PartyKind.INSPECTOR


def test_an_event_of_an_unknown_obligation_is_visible_to_nobody_but_the_mediator(world: World) -> None:
    (event,) = history(world)[:1]
    stranger = ObligationDefined(
        by=event.by, at=event.at, command_digest=event.command_digest, obligation="ghost",
        spec=spec(obligation="ghost"),
    )  # fmt: skip
    assert not visible_to(world.s, "iran/lead", stranger)
    assert visible_to(world.s, "med/obs", stranger)


def test_a_step_down_beyond_the_calendar_is_never_due(world: World) -> None:
    define(world, rate=0.000001, period_seconds=10 * 366 * DAY, burst=1)
    record(world, 999)
    r = world.s.obligations["iran-enrichment"]
    assert (r.level, r.next_step_down()) == (1, None)
    with pytest.raises(TrackStateError, match="not within the calendar"):
        review(world)
