"""Staged deals: the terms' shape, the two-phase commit's rules, its events and their fold."""

import hashlib
import math
from dataclasses import replace
from datetime import timedelta

import pytest
from track_world import World

from backchannel.domain import PartyKind, Role, visible_to
from backchannel.domain.agreements.commitment_commands import PublishCommitment
from backchannel.domain.agreements.deal_commands import DraftDeal, PrepareDeal, ResolveDeal, VoteDeal
from backchannel.domain.agreements.deal_events import (
    DealAborted,
    DealCommitted,
    DealDrafted,
    DealPrepared,
    DealVoted,
)
from backchannel.domain.agreements.deals import (
    AbortReason,
    Compensation,
    Deal,
    DealDeadlineError,
    DealStateError,
    DealStatus,
    Quantity,
    Reference,
    Step,
    UnknownDealError,
    Vote,
    check_deal_id,
)
from backchannel.domain.errors import (
    AgendaNotRatifiedError,
    NotAuthorizedError,
    SchemaViolationError,
    TrackStateError,
)
from backchannel.domain.events import event_from_dict
from backchannel.domain.evolve import evolve
from backchannel.errors import EncodingError


def step(party="iran", action="cap enrichment", issue=None, value=3.67, unit="%", conditions=()):  # noqa: PLR0917
    return {
        "party": party,
        "action": action,
        "issue": issue,
        "quantity": {"value": value, "unit": unit},
        "conditions": list(conditions),
    }


def doha(deal_id="doha-1", **changes):
    value = {
        "id": deal_id,
        "title": "Phase 1: sanctions relief for an enrichment cap",
        "phases": [
            [
                step("iran", "cap enrichment", "enrichment_cap_pct", 3.67, "%"),
                step("usa", "grant sanctions relief", "sanctions_relief", "partial", None),
            ],
            [
                step("usa", "release frozen assets", None, 6, "USD bn", [{"ref": "step:1.1"}]),
                step("iran", "ship out stockpile", None, 300, "kg", ["IAEA confirms"]),
            ],
        ],
    }
    value.update(changes)
    return value


def deal_of(value=None) -> Deal:
    return Deal.from_dict(doha() if value is None else value)


def dhash(deal: Deal) -> bytes:
    return hashlib.sha256(repr(deal.to_dict()).encode()).digest()


def violations(value) -> set[tuple[str, str]]:
    with pytest.raises(SchemaViolationError) as e:
        Deal.from_dict(value)
    return {(v.field, v.rule) for v in e.value.violations}


# --- the terms ---------------------------------------------------------------------------------


def test_a_deal_round_trips_and_lists_its_steps() -> None:
    deal = deal_of()
    assert Deal.from_dict(deal.to_dict()) == deal
    assert deal.to_dict() == doha()
    assert [(p, s, x.party) for p, s, x in deal.steps()] == [
        (1, 1, "iran"),
        (1, 2, "usa"),
        (2, 1, "usa"),
        (2, 2, "iran"),
    ]
    assert deal.phases[1][0].conditions == (Reference("step", "1.1"),)
    assert str(deal.phases[1][0].conditions[0]) == "step:1.1"
    assert str(deal.phases[0][0].quantity) == "3.67 %"
    assert str(deal.phases[0][1].quantity) == "partial"
    assert check_deal_id("Bad Id")
    assert not check_deal_id("doha-1")
    assert DealStatus.COMMITTED.final
    assert DealStatus.ABORTED.final
    assert not DealStatus.PREPARING.final


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"id": "Not An Id"}, {("id", "pattern")}),
        ({"title": ""}, {("title", "length")}),
        ({"phases": []}, {("phases", "count")}),
        ({"phases": [[step("iran"), step("usa")]] * 17}, {("phases", "count")}),
        ({"phases": [[]]}, {("phases.0", "count")}),
        ({"phases": [[step("iran"), step("iran")]]}, {("phases.0", "reciprocal")}),
        (
            {"phases": [[step("Iran!"), step("usa", action="")]]},
            {("phases.0.0.party", "pattern"), ("phases.0.1.action", "length")},
        ),
        (
            {"phases": [[step("iran", issue="Bad"), step("usa", value=math.inf)]]},
            {("phases.0.0.issue", "pattern"), ("phases.0.1.quantity.value", "type")},
        ),
        (
            {"phases": [[step("iran", value="x" * 201), step("usa", unit="")]]},
            {("phases.0.0.quantity.value", "length"), ("phases.0.1.quantity.unit", "length")},
        ),
        (
            {"phases": [[step("iran", conditions=["c"] * 17), step("usa", conditions=[""])]]},
            {("phases.0.0.conditions", "max_items"), ("phases.0.1.conditions.0", "length")},
        ),
        (
            {
                "phases": [
                    [
                        step("iran", conditions=[{"ref": "escrow:x"}]),
                        step("usa", conditions=[{"ref": "step:x"}]),
                    ]
                ]
            },
            {("phases.0.0.conditions.0", "ref_kind"), ("phases.0.1.conditions.0", "ref_target")},
        ),
        (
            {
                "phases": [
                    [
                        step("iran", conditions=[{"ref": "deal:doha-1"}]),
                        step("usa", conditions=[{"ref": "step:1.1"}]),
                    ]
                ]
            },
            {("phases.0.0.conditions.0", "ref"), ("phases.0.1.conditions.0", "ref")},
        ),
        (
            {
                "phases": [
                    [step("iran"), step("usa")],
                    [step("iran", conditions=[{"ref": "step:1.3"}]), step("usa")],
                ]
            },
            {("phases.1.0.conditions.0", "ref")},
        ),
    ],
)
def test_every_shape_rule_is_named_by_its_path(change, expected) -> None:
    assert violations(doha(**change)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], {("deal", "type")}),
        ({"id": "x"}, {("deal", "form")}),
        (doha(phases="nope"), {("phases", "type")}),
        (doha(phases=["nope"]), {("phases.0", "type")}),
        (doha(phases=[["nope"]]), {("phases.0.0", "type")}),
        (doha(phases=[[{**step(), "quantity": 3}]]), {("phases.0.0.quantity", "type")}),
        (doha(phases=[[{**step(), "conditions": "x"}]]), {("phases.0.0.conditions", "type")}),
        (
            doha(phases=[[{**step(), "party": 1, "action": None, "issue": 2}]]),
            {("phases.0.0.party", "type"), ("phases.0.0.action", "type"), ("phases.0.0.issue", "type")},
        ),
        (
            doha(phases=[[step(value=[1], unit=5)]]),
            {("phases.0.0.quantity.value", "type"), ("phases.0.0.quantity.unit", "type")},
        ),
        (
            doha(phases=[[step(conditions=[{"reff": "x"}, {"ref": 3}, {"ref": "nocolon"}])]]),
            {
                ("phases.0.0.conditions.0", "form"),
                ("phases.0.0.conditions.1.ref", "type"),
                ("phases.0.0.conditions.2.ref", "type"),
            },
        ),
    ],
)
def test_decoding_names_every_type_error(value, expected) -> None:
    assert violations(value) == expected


def test_a_boolean_quantity_and_a_reference_to_a_commitment_are_terms() -> None:
    value = doha(
        phases=[
            [
                step("iran", value=True, unit=None),
                step("usa", conditions=[{"ref": "commitment:" + "ab" * 32}]),
            ]
        ]
    )
    deal = deal_of(value)
    assert deal.phases[0][0].quantity == Quantity(True, None)
    assert deal.to_dict() == value


def test_compensations_round_trip_and_decode_strictly() -> None:
    compensations = Compensation.of(deal_of())
    assert [(c.phase, c.step, c.party) for c in compensations] == [
        (1, 1, "iran"),
        (1, 2, "usa"),
        (2, 1, "usa"),
        (2, 2, "iran"),
    ]
    first = compensations[0].to_dict()
    assert first["rollback"] == "void"
    assert Compensation.from_dict(first, "c") == compensations[0]
    with pytest.raises(EncodingError, match=r"c\.rollback: expected 'void'"):
        Compensation.from_dict({**first, "rollback": "undo"}, "c")
    with pytest.raises(EncodingError, match=r"c\.quantity: expected a value"):
        Compensation.from_dict({**first, "quantity": {"value": [1], "unit": None}}, "c")
    with pytest.raises(EncodingError, match=r"c\.quantity: expected a value"):
        Compensation.from_dict({**first, "quantity": {"value": 1, "unit": 2}}, "c")


# --- the commands' shapes --------------------------------------------------------------------------


def test_command_shapes_are_checked(world: World) -> None:
    deal = deal_of()
    with pytest.raises(SchemaViolationError) as e:
        world.cmd(DraftDeal, "med/chair", deal=doha(), deal_hash=b"short")
    assert {v.field for v in e.value.violations} == {"deal", "deal_hash"}
    with pytest.raises(SchemaViolationError, match="deadline: expected an aware time"):
        world.cmd(
            PrepareDeal,
            "med/chair",
            deal=deal,
            deal_hash=dhash(deal),
            deadline=world.now.replace(tzinfo=None),
        )
    with pytest.raises(SchemaViolationError) as e:
        world.cmd(VoteDeal, "iran/lead", deal_id="X", deal_hash=dhash(deal), vote="maybe")
    assert {v.field for v in e.value.violations} == {"deal_id", "vote"}
    assert world.cmd(VoteDeal, "iran/lead", deal_id="d", deal_hash=dhash(deal), vote="yes").vote is Vote.YES
    with pytest.raises(SchemaViolationError, match="deal_id"):
        world.cmd(ResolveDeal, "med/service", deal_id="")


# --- the rules ---------------------------------------------------------------------------------------


def prepare(w: World, value=None, seconds: float = 600, by: str = "med/chair") -> Deal:
    deal = deal_of(value)
    w.run(
        w.cmd(PrepareDeal, by, deal=deal, deal_hash=dhash(deal), deadline=w.now + timedelta(seconds=seconds))
    )
    return deal


def vote(w: World, member: str, deal: Deal, choice: str = "yes", deal_hash: bytes | None = None):
    return w.run(w.cmd(VoteDeal, member, deal_id=deal.id, deal_hash=deal_hash or dhash(deal), vote=choice))


def test_every_yes_commits_in_the_decision_of_the_last_vote(world: World) -> None:
    before = world.s
    deal = prepare(world)
    record = world.s.deal(deal.id)
    assert (record.status, record.voters, record.missing, record.agenda_version, record.revision) == (
        DealStatus.PREPARING,
        ("iran/lead", "usa/lead"),
        ("iran/lead", "usa/lead"),
        1,
        1,
    )
    assert record.deadline == world.now + timedelta(seconds=600)
    (voted,) = vote(world, "iran/lead", deal)
    assert isinstance(voted, DealVoted)
    assert world.s.deal(deal.id).missing == ("usa/lead",)
    world.tick()
    events = vote(world, "usa/lead", deal)
    assert [type(e) for e in events] == [DealVoted, DealCommitted]
    assert events[1].voters == ("iran/lead", "usa/lead")
    record = world.s.deal(deal.id)
    assert record.status is DealStatus.COMMITTED
    assert record.outcome is not None
    assert record.outcome.at == world.now
    assert record.ballots["usa/lead"].vote is Vote.YES
    # nothing else of the track changed
    assert (
        replace(world.s, deals=before.deals, idempotency=before.idempotency, version=before.version) == before
    )


def test_a_no_aborts_at_once_and_voids_every_step(world: World) -> None:
    before = world.s
    deal = prepare(world)
    events = vote(world, "iran/lead", deal, "no")
    assert [type(e) for e in events] == [DealVoted, DealAborted]
    aborted = events[1]
    assert (aborted.reason, aborted.missing) == (AbortReason.VOTE_NO, ("usa/lead",))
    assert aborted.detail == "iran/lead voted NO on deal doha-1"
    assert aborted.compensations == Compensation.of(deal)
    record = world.s.deal(deal.id)
    assert record.status is DealStatus.ABORTED
    assert record.outcome.reason is AbortReason.VOTE_NO
    assert record.outcome.compensations == Compensation.of(deal)
    # the prior state stands: only the deal's record (and the counters) changed
    assert (
        replace(world.s, deals=before.deals, idempotency=before.idempotency, version=before.version) == before
    )
    # final: no more votes, no resolution, and a vote cannot change
    with pytest.raises(DealStateError, match="deal doha-1 is already aborted: it is final"):
        vote(world, "usa/lead", deal)
    with pytest.raises(
        DealStateError, match=r"iran/lead already voted NO on deal doha-1 .*: a vote cannot change"
    ):
        vote(world, "iran/lead", deal, "yes")
    with pytest.raises(DealStateError, match="only a preparing deal is resolved"):
        world.decide(world.cmd(ResolveDeal, "med/service", deal_id=deal.id))
    # a duplicate of the same vote is a no-op, even now
    assert vote(world, "iran/lead", deal, "no") == []


def test_a_vote_on_another_hash_aborts_with_both_hashes(world: World) -> None:
    deal = prepare(world)
    vote(world, "usa/lead", deal)
    other = b"\x01" * 32
    events = vote(world, "iran/lead", deal, "yes", deal_hash=other)
    assert [type(e) for e in events] == [DealVoted, DealAborted]
    assert events[0].deal_hash == other
    assert events[1].reason is AbortReason.HASH_MISMATCH
    assert events[1].deal_hash == dhash(deal)
    assert (
        events[1].detail
        == f"iran/lead signed hash {other.hex()}, but deal doha-1 has hash {dhash(deal).hex()}"
    )
    assert events[1].missing == ()
    assert vote(world, "iran/lead", deal, "yes", deal_hash=other) == []  # the same ballot again: a no-op


def test_votes_and_duplicates_after_a_commit(world: World) -> None:
    deal = prepare(world)
    vote(world, "iran/lead", deal)
    vote(world, "usa/lead", deal)
    assert vote(world, "usa/lead", deal) == []  # a retry with a new signature: a no-op
    with pytest.raises(DealStateError, match="a vote cannot change"):
        vote(world, "usa/lead", deal, "no")
    with pytest.raises(DealStateError, match="deal doha-1 is already committed"):
        world.decide(
            world.cmd(
                PrepareDeal, "med/chair", deal=deal, deal_hash=dhash(deal), deadline=world.now + timedelta(1)
            )
        )


def test_a_late_vote_is_refused_and_the_deadline_aborts(world: World) -> None:
    deal = prepare(world, seconds=60)
    vote(world, "usa/lead", deal)
    resolve = world.cmd(ResolveDeal, "med/service", deal_id=deal.id)
    world.tick(59)
    with pytest.raises(DealDeadlineError, match="is not reached"):
        world.decide(resolve)
    world.tick(1)
    with pytest.raises(DealDeadlineError, match="the prepare deadline .* has passed"):
        vote(world, "iran/lead", deal)
    assert vote(world, "usa/lead", deal) == []  # a duplicate is still a no-op after the deadline
    (aborted,) = world.run(world.cmd(ResolveDeal, "med/service", deal_id=deal.id))
    assert aborted.reason is AbortReason.DEADLINE
    assert aborted.missing == ("iran/lead",)
    assert "passed without the votes of iran/lead" in aborted.detail
    assert world.s.deal(deal.id).outcome.missing == ("iran/lead",)
    with pytest.raises(NotAuthorizedError, match="may not resolve deals"):
        world.decide(world.cmd(ResolveDeal, "med/chair", deal_id=deal.id))


def test_who_may_do_what(world: World) -> None:
    deal = deal_of()
    for member in ("iran/lead", "med/staff", "med/service"):
        with pytest.raises(NotAuthorizedError, match="may not prepare deals"):
            world.decide(
                world.cmd(
                    PrepareDeal, member, deal=deal, deal_hash=dhash(deal), deadline=world.now + timedelta(1)
                )
            )
        with pytest.raises(NotAuthorizedError, match="may not draft deals"):
            world.decide(world.cmd(DraftDeal, member, deal=deal, deal_hash=dhash(deal)))
    prepare(world)
    for member in ("iran/deputy", "usa/watch", "med/chair", "iaea/lead", "swiss/lead"):
        with pytest.raises(NotAuthorizedError, match="may not vote on deals"):
            vote(world, member, deal)
    # a principal enrolled after the prepare is not a voter
    world.enroll("usa/second", Role.PRINCIPAL)
    with pytest.raises(
        NotAuthorizedError, match=r"usa/second is not a voter of deal doha-1 \(voters: iran/lead, usa/lead\)"
    ):
        vote(world, "usa/second", deal)
    with pytest.raises(UnknownDealError, match="no deal 'nope'"):
        world.decide(world.cmd(VoteDeal, "iran/lead", deal_id="nope", deal_hash=dhash(deal), vote="yes"))


def test_a_third_voter_finds_the_deal_final(world: World) -> None:
    world.enroll("usa/second", Role.PRINCIPAL)
    world.ratify("usa/second")  # a new principal must ratify the agenda too
    deal = prepare(world)
    assert world.s.deal(deal.id).voters == ("iran/lead", "usa/lead", "usa/second")
    vote(world, "iran/lead", deal)
    vote(world, "usa/second", deal)
    assert world.s.deal(deal.id).status is DealStatus.PREPARING
    vote(world, "iran/lead", deal)  # a duplicate changes nothing
    assert world.s.deal(deal.id).missing == ("usa/lead",)
    vote(world, "usa/lead", deal)
    assert world.s.deal(deal.id).status is DealStatus.COMMITTED
    other = prepare(world, doha("doha-2"))
    vote(world, "usa/second", other, "no")
    with pytest.raises(DealStateError, match="deal doha-2 is already aborted"):
        vote(world, "usa/lead", other)


def test_drafts_are_revised_then_prepared(world: World) -> None:
    first = deal_of()
    (drafted,) = world.run(world.cmd(DraftDeal, "med/chair", deal=first, deal_hash=dhash(first)))
    assert isinstance(drafted, DealDrafted)
    record = world.s.deal(first.id)
    assert (record.status, record.revision, record.deadline, record.voters) == (
        DealStatus.DRAFTED,
        1,
        None,
        (),
    )
    with pytest.raises(DealStateError, match="deal doha-1 is a draft: votes open when it is prepared"):
        vote(world, "iran/lead", first)
    second = deal_of(doha(title="Phase 1, revised"))
    world.run(world.cmd(DraftDeal, "med/chair", deal=second, deal_hash=dhash(second)))
    assert world.s.deal(first.id).revision == 2
    prepare(world, doha(title="Phase 1, revised"))  # the same terms: the same revision
    assert (world.s.deal(first.id).status, world.s.deal(first.id).revision) == (DealStatus.PREPARING, 2)
    with pytest.raises(DealStateError, match="deal doha-1 is already preparing: a deal id is used once"):
        world.decide(world.cmd(DraftDeal, "med/chair", deal=first, deal_hash=dhash(first)))
    third = deal_of(doha("doha-2"))
    world.run(world.cmd(DraftDeal, "med/chair", deal=third, deal_hash=dhash(third)))
    prepare(world, doha("doha-2", title="changed before the vote"))
    assert world.s.deal("doha-2").revision == 2


def test_a_deadline_must_be_after_now(world: World) -> None:
    deal = deal_of()
    with pytest.raises(DealDeadlineError, match="is not after now"):
        world.decide(
            world.cmd(PrepareDeal, "med/chair", deal=deal, deal_hash=dhash(deal), deadline=world.now)
        )


def test_terms_are_checked_against_the_track_and_the_ratified_agenda(world: World) -> None:
    value = doha(
        phases=[
            [
                step("iran", issue="enrichment_cap_pct", value=95, unit="%"),
                step("usa", issue="enrichment_cap_pct", value=3.67, unit="percent"),
                step("oman", issue="sanctions_relief", value="tier-9", unit="tier"),
                step("iaea", issue="no_such_issue", value=1, unit=None),
                step(
                    "iran",
                    issue="snapback",
                    value=True,
                    unit=None,
                    conditions=[{"ref": "deal:old"}, {"ref": "commitment:" + "cd" * 32}],
                ),
            ]
        ]
    )
    deal = deal_of(value)
    with pytest.raises(SchemaViolationError) as e:
        world.decide(
            world.cmd(
                PrepareDeal, "med/chair", deal=deal, deal_hash=dhash(deal), deadline=world.now + timedelta(1)
            )
        )
    found = {(v.field, v.rule): v.message for v in e.value.violations}
    assert set(found) == {
        ("phases.0.0.quantity.value", "maximum"),
        ("phases.0.1.quantity.unit", "unit"),
        ("phases.0.2.party", "unknown_party"),
        ("phases.0.2.quantity.unit", "unit"),
        ("phases.0.2.quantity.value", "one_of"),
        ("phases.0.3.party", "delegation"),
        ("phases.0.3.issue", "unknown_issue"),
        ("phases.0.4.conditions.0", "unknown_deal"),
        ("phases.0.4.conditions.1", "unknown_commitment"),
    }
    assert found[("phases.0.0.quantity.value", "maximum")] == (
        "phases.0.0.quantity.value: enrichment_cap_pct: 95 % is above the maximum 90"
    )
    assert found[("phases.0.1.quantity.unit", "unit")].endswith(
        "'percent' does not match the agenda's '%' for enrichment_cap_pct"
    )
    assert found[("phases.0.2.quantity.unit", "unit")].endswith(
        "sanctions_relief is a one_of issue: it has no unit (null)"
    )
    assert found[("phases.0.3.party", "delegation")].endswith("iaea is a inspector party, not a delegation")
    assert len(world.s.deals) == 0


def test_references_to_the_tracks_deals_and_commitments_resolve(world: World) -> None:
    prepare(world, doha("old"))
    (published,) = world.run(world.cmd(PublishCommitment, "iran/lead", label="x", commitment=b"\x02" * 32))
    value = doha(
        phases=[
            [
                step("iran", conditions=[{"ref": "deal:old"}]),
                step("usa", conditions=[{"ref": f"commitment:{published.commitment_id}"}]),
            ]
        ]
    )
    prepare(world, value)
    assert world.s.deal("doha-1").agenda_version is None  # it names no issue


def test_an_issue_needs_a_ratified_agenda(make_world) -> None:
    w = make_world()
    w.open()
    w.admit("iran")
    w.admit("usa")
    deal = deal_of()
    command = w.cmd(PrepareDeal, "med/chair", deal=deal, deal_hash=dhash(deal), deadline=w.now + timedelta(1))
    with pytest.raises(
        AgendaNotRatifiedError, match=r"names agenda issues \(enrichment_cap_pct, sanctions_relief\)"
    ):
        w.decide(command)
    w.propose(1)
    w.ratify("iran/lead")
    with pytest.raises(AgendaNotRatifiedError, match="still to ratify version 1: usa/lead"):
        w.decide(command)  # issue #8: which principals must still ratify which version
    w.ratify("usa/lead")
    assert w.decide(command)


def test_a_track_without_voters_cannot_prepare(world: World) -> None:
    members = {
        m: replace(r, keys=tuple(replace(k, revoked_at=world.now) for k in r.keys))
        if r.role is Role.PRINCIPAL and world.s.parties[r.party].kind is PartyKind.DELEGATION
        else r
        for m, r in world.s.members.items()
    }
    world.state = replace(world.s, members=members)
    deal = deal_of(doha(phases=[[step("iran"), step("usa")]]))
    with pytest.raises(DealStateError, match="the track has no delegation principal to vote"):
        world.decide(
            world.cmd(
                PrepareDeal, "med/chair", deal=deal, deal_hash=dhash(deal), deadline=world.now + timedelta(1)
            )
        )


# --- events -----------------------------------------------------------------------------------------


def test_every_deal_event_round_trips(world: World) -> None:
    first = deal_of()
    world.run(world.cmd(DraftDeal, "med/chair", deal=first, deal_hash=dhash(first)))
    prepare(world)
    vote(world, "iran/lead", first)
    vote(world, "usa/lead", first)
    second = prepare(world, doha("doha-2"))
    vote(world, "usa/lead", second, "no")
    mine = [e for e in world.events if e.type.startswith("deal.")]
    assert [e.type for e in mine] == [
        "deal.drafted",
        "deal.prepared",
        "deal.voted",
        "deal.voted",
        "deal.committed",
        "deal.prepared",
        "deal.voted",
        "deal.aborted",
    ]
    for event in mine:
        assert event_from_dict(event.to_dict()) == event


def test_deal_events_decode_strictly(world: World) -> None:
    deal = prepare(world)
    (voted, aborted) = vote(world, "iran/lead", deal, "no")
    prepared = next(e for e in world.events if isinstance(e, DealPrepared))
    with pytest.raises(EncodingError, match=r"deal\.prepared\.deal: title"):
        DealPrepared.from_dict({**prepared.to_dict(), "deal": {**deal.to_dict(), "title": ""}})
    with pytest.raises(EncodingError, match=r"deal\.aborted\.compensations: expected a list"):
        DealAborted.from_dict({**aborted.to_dict(), "compensations": "none"})
    with pytest.raises(EncodingError, match=r"deal\.voted\.vote"):
        DealVoted.from_dict({**voted.to_dict(), "vote": "maybe"})


def test_fold_refuses_events_about_unknown_deals(world: World) -> None:
    deal = prepare(world)
    (voted,) = vote(world, "iran/lead", deal)
    for event in (
        replace(voted, deal_id="ghost"),
        DealCommitted(
            by="med/chair",
            at=world.now,
            command_digest=b"\x00" * 32,
            deal_id="ghost",
            deal_hash=b"\x00" * 32,
            voters=(),
        ),
        DealAborted(
            by="med/chair",
            at=world.now,
            command_digest=b"\x00" * 32,
            deal_id="ghost",
            deal_hash=b"\x00" * 32,
            reason=AbortReason.DEADLINE,
            detail="x",
            missing=(),
            compensations=(),
        ),
    ):
        with pytest.raises(TrackStateError, match="cannot be applied: unknown 'ghost'"):
            evolve(world.s, event)


def test_deal_events_are_seen_by_the_mediator_and_the_delegations(world: World, members) -> None:
    deal = prepare(world)
    events = [*world.events[-1:], *vote(world, "iran/lead", deal, "no")]
    for member in members:
        party = world.s.members[member].party
        kind = world.s.parties[party].kind
        expected = kind in {PartyKind.MEDIATOR, PartyKind.DELEGATION}
        assert all(visible_to(world.s, member, e) is expected for e in events), member


def test_a_step_without_a_party_of_its_own_is_still_a_step() -> None:
    """The dataclasses build without decoding; construction runs the same checks."""
    deal = Deal(
        "d", "t", ((Step("iran", "a", None, Quantity(1, None)), Step("usa", "b", None, Quantity(2, "kg"))),)
    )
    assert deal.to_dict()["phases"][0][1]["quantity"] == {"value": 2, "unit": "kg"}
    with pytest.raises(SchemaViolationError, match="two distinct parties"):
        Deal("d", "t", ((Step("iran", "a", None, Quantity(1, None)),),))
