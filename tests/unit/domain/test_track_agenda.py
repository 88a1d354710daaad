"""Agenda: propose, ratify by every delegation principal, amend; no proposal flows before ratification."""

import pytest
from track_world import World, agenda, agenda_digest

from backchannel.domain import (
    AgendaProposed,
    AgendaRatified,
    MessageKind,
    ProposeAgenda,
    RatifyAgenda,
    RevokeKey,
    Role,
    SubmitMessage,
)
from backchannel.domain.errors import (
    AgendaMismatchError,
    AgendaNotRatifiedError,
    SchemaViolationError,
    StaleAgendaError,
    TrackStateError,
)


def opened(make_world) -> World:
    w = make_world()
    w.open()
    w.admit("iran")
    w.admit("usa")
    return w


def proposal(w: World, member: str = "iran/lead", version: int = 1, values=None):
    body = {"values": {"enrichment_cap_pct": 3.67} if values is None else values}
    return w.cmd(SubmitMessage, member, kind="proposal", body=body, agenda_version=version)


def test_no_proposal_flows_before_an_agenda(make_world) -> None:
    w = opened(make_world)
    assert w.s.agenda_status() is None
    with pytest.raises(AgendaNotRatifiedError, match="no agenda has been proposed"):
        w.decide(proposal(w))
    assert w.decide(w.cmd(SubmitMessage, "iran/lead", kind="question", body={"text": "agenda?"}))


def test_ratification_by_every_delegation_principal(make_world) -> None:
    w = opened(make_world)
    (event,) = w.run(
        w.cmd(ProposeAgenda, "med/chair", agenda=agenda(1), agenda_digest=agenda_digest(agenda(1)))
    )
    assert isinstance(event, AgendaProposed)
    status = w.s.agenda_status()
    assert (status.version, status.ratified_by, status.missing, status.ratified) == (
        1,
        (),
        ("iran/lead", "usa/lead"),
        False,
    )
    assert not status
    with pytest.raises(
        AgendaNotRatifiedError, match=r"agenda version 1 is not ratified yet \(missing: iran/lead, usa/lead\)"
    ):
        w.decide(proposal(w))
    w.ratify("iran/lead")
    assert w.s.agenda_status().missing == ("usa/lead",)
    with pytest.raises(AgendaNotRatifiedError, match=r"missing: usa/lead"):
        w.decide(proposal(w))
    w.tick()
    (ratified,) = w.run(w.cmd(RatifyAgenda, "usa/lead", version=1, agenda_digest=agenda_digest(agenda(1))))
    assert isinstance(ratified, AgendaRatified)
    status = w.s.agenda_status()
    assert status.ratified
    assert status
    assert status.ratified_by == ("iran/lead", "usa/lead")
    assert w.s.agenda.ratified_by["usa/lead"] == w.now
    assert w.s.agenda.proposed_by == "med/chair"
    assert w.decide(proposal(w))


def test_an_agenda_with_no_delegation_is_never_ratified(make_world) -> None:
    w = make_world()
    w.open()
    w.propose(1)
    status = w.s.agenda_status()
    assert (status.ratified_by, status.missing, status.ratified) == ((), (), False)
    w.admit("iran")
    w.enroll("iran/deputy", Role.DELEGATE)
    with pytest.raises(AgendaNotRatifiedError, match=r"missing: iran/lead"):
        w.decide(proposal(w))


def test_a_newly_admitted_delegation_must_ratify_too(world) -> None:
    assert world.s.agenda_status().ratified
    world.admit("oman")
    assert world.s.agenda_status().missing == ("oman/lead",)
    with pytest.raises(AgendaNotRatifiedError, match="missing: oman/lead"):
        world.decide(proposal(world))


def test_a_principal_without_unrevoked_keys_no_longer_counts(world) -> None:
    world.enroll("iran/second", Role.PRINCIPAL)
    assert world.s.agenda_status().missing == ("iran/second",)
    second = world.keys["iran/second"]
    world.run(world.cmd(RevokeKey, "iran/lead", subject="iran/second", revoked_key_id=second.key_id))
    assert world.s.agenda_status().ratified
    assert "iran/second" not in world.s.ratifiers()


def test_proposing_a_version_other_than_the_next_is_stale(world) -> None:
    for version in (1, 3):
        with pytest.raises(
            StaleAgendaError, match=f"agenda version {version} proposed; the next version is 2"
        ) as info:
            world.decide(
                world.cmd(ProposeAgenda, "med/chair", agenda=agenda(version), agenda_digest=b"\x00" * 32)
            )
        assert info.value.current == 1


def test_ratification_must_name_the_current_version_and_its_digest(world) -> None:
    world.propose(2)
    digest = agenda_digest(agenda(2))
    with pytest.raises(
        StaleAgendaError, match="ratification of agenda version 1; the current version is 2"
    ) as info:
        world.decide(world.cmd(RatifyAgenda, "iran/lead", version=1, agenda_digest=agenda_digest(agenda(1))))
    assert info.value.current == 2
    with pytest.raises(AgendaMismatchError, match=f"agenda version 2 has digest {digest.hex()}"):
        world.decide(world.cmd(RatifyAgenda, "iran/lead", version=2, agenda_digest=b"\x01" * 32))
    world.ratify("iran/lead")
    with pytest.raises(TrackStateError, match="iran/lead already ratified agenda version 2"):
        world.decide(world.cmd(RatifyAgenda, "iran/lead", version=2, agenda_digest=digest))


def test_ratifying_before_any_agenda_is_stale(make_world) -> None:
    w = opened(make_world)
    with pytest.raises(StaleAgendaError, match="the current version is 0") as info:
        w.decide(w.cmd(RatifyAgenda, "iran/lead", version=1, agenda_digest=b"\x00" * 32))
    assert info.value.current == 0


def test_an_amendment_stops_proposals_until_it_is_ratified(world) -> None:
    assert world.decide(proposal(world, version=1))
    world.propose(2)
    assert world.s.agenda.ratified_by == {}
    with pytest.raises(StaleAgendaError, match="written against agenda version 1; the current version is 2"):
        world.decide(proposal(world, version=1))
    with pytest.raises(AgendaNotRatifiedError, match="agenda version 2 is not ratified yet"):
        world.decide(proposal(world, version=2))
    world.ratify("iran/lead")
    world.ratify("usa/lead")
    assert world.decide(proposal(world, version=2))


def test_proposal_values_are_checked_field_by_field(world) -> None:
    bad = {"enrichment_cap_pct": 95, "sanctions_relief": "total", "uranium_price": 3}
    with pytest.raises(SchemaViolationError) as info:
        world.decide(proposal(world, values=bad))
    assert [(v.field, v.rule) for v in info.value.violations] == [
        ("enrichment_cap_pct", "maximum"),
        ("sanctions_relief", "one_of"),
        ("uranium_price", "unknown_field"),
    ]
    with pytest.raises(SchemaViolationError) as info:
        world.decide(
            world.cmd(SubmitMessage, "iran/lead", kind="counter_proposal", body={}, agenda_version=1)
        )
    assert [(v.field, v.rule) for v in info.value.violations] == [("values", "type")]


def test_the_agenda_version_is_required_for_proposals_only(world) -> None:
    with pytest.raises(SchemaViolationError) as info:
        world.decide(
            world.cmd(SubmitMessage, "iran/lead", kind="proposal", body={"values": {"snapback": True}})
        )
    assert [(v.field, v.rule) for v in info.value.violations] == [("agenda_version", "required")]
    with pytest.raises(SchemaViolationError) as info:
        world.decide(world.cmd(SubmitMessage, "iran/lead", kind="statement", body={}, agenda_version=1))
    assert [(v.field, v.rule) for v in info.value.violations] == [("agenda_version", "forbidden")]


def test_statements_flow_whatever_the_agenda(world) -> None:
    world.propose(2)
    assert world.submit("usa/aide", MessageKind.ANSWER)
