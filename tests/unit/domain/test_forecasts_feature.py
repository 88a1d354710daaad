"""The forecasts feature (ADR-0045): declarations checked against the agenda, forecasts, shares, visibility."""

from typing import Any

import pytest
from track_world import MEMBERS, World, populate

from backchannel.domain import event_from_dict, fold, visible_to
from backchannel.domain.errors import (
    InvalidRecipientError,
    NotAuthorizedError,
    SchemaViolationError,
    TrackStateError,
    UnknownPartyError,
)
from backchannel.domain.features.forecast_commands import DeclareActorPositions, RecordForecast, ShareForecast
from backchannel.domain.features.forecast_events import (
    ActorPositionsDeclared,
    ForecastRecorded,
    ForecastShared,
)
from backchannel.domain.forecasting import (
    MAX_ACTORS,
    ActorPosition,
    IssueForecast,
    IssuePositions,
    ModelAnswer,
    check_actor,
)
from backchannel.log.canonical import canonicalize, loads_strict
from backchannel.protocol._wire_codec import command_body, read_body

Fields = dict[str, Any]


def actor(name: str = "iran", **fields: Any) -> ActorPosition:
    values: Fields = {"position": 40.0, "value": None, "salience": 80.0, "capability": 1.0} | fields
    return ActorPosition(actor=name, **values)


def issue(
    name: str = "sanctions_relief", *actors: ActorPosition, reference: float | None = None
) -> IssuePositions:
    return IssuePositions(
        issue=name, reference=reference, actors=actors or (actor(), actor("usa", position=90.0))
    )


def answers(issue_name: str, spread: float = 50.0) -> IssueForecast:
    return IssueForecast(
        issue=issue_name,
        answers=(
            ModelAnswer(model="compromise", value=40.0),
            ModelAnswer(model="nash_worst", value=40 + spread),
        ),
        spread=spread,
        low_model="compromise",
        high_model="nash_worst",
    )


def declare(w: World, *issues: IssuePositions, by: str = "med/chair") -> list[Any]:
    return w.run(w.cmd(DeclareActorPositions, by, issues=issues or (issue(),)))


def record(w: World, by: str = "med/service", **fields: Any) -> list[Any]:
    book = w.s.forecasts
    values: Fields = {
        "requested_by": "med/chair",
        "declarations": book.watermark(),
        "through": w.now,
        "threshold": 40.0,
        "issues": tuple(answers(name) for name in sorted(book.current)),
    } | fields
    return w.run(w.cmd(RecordForecast, by, **values))


def share(w: World, forecast_id: str, *parties: str, by: str = "med/chair") -> list[Any]:
    return w.run(w.cmd(ShareForecast, by, forecast_id=forecast_id, parties=parties))


def violations(error: pytest.ExceptionInfo[SchemaViolationError]) -> dict[str, str]:
    return {v.field: v.rule for v in error.value.violations}


# -- declarations ---------------------------------------------------------------------------------


def test_a_declaration_maps_values_in_units_to_0_100(world: World) -> None:
    (event,) = declare(
        world,
        issue(
            "enrichment_cap_pct",
            actor("iran", position=None, value=60.0),
            actor("usa", position=None, value=3.6),
        ),
        issue("sanctions_relief", reference=0.0),
    )
    assert isinstance(event, ActorPositionsDeclared)
    positions = {a.actor: a.position for a in event.issues[0].actors}
    assert positions == pytest.approx({"iran": 60 / 90 * 100, "usa": 4.0})
    assert event.issues[0].actors[0].value == 60.0
    book = world.s.forecasts
    assert sorted(book.current) == ["enrichment_cap_pct", "sanctions_relief"]
    assert book.watermark() == (event.declaration_id,)
    assert book.declarations[0].issues == ("enrichment_cap_pct", "sanctions_relief")


def test_a_declaration_is_checked_against_the_agenda_field_by_field(world: World) -> None:
    with pytest.raises(SchemaViolationError) as error:
        declare(
            world,
            issue("no_such_issue"),
            issue("enrichment_cap_pct", actor("iran", position=None, value=95.0)),
            issue("snapback", actor("iran", position=None, value=1.0)),
        )
    assert violations(error) == {
        "issues.0.issue": "agenda",
        "issues.1.actors.0.value": "range",
        "issues.2.actors.0.value": "kind",
    }
    assert "must be in [0, 90] % (got 95)" in str(error.value)


def test_without_an_agenda_every_issue_is_unknown() -> None:
    w = World()
    w.open()
    with pytest.raises(SchemaViolationError, match="is not an issue of no agenda"):
        declare(w)


@pytest.mark.parametrize("member", ["med/obs", "iran/lead", "usa/aide", "iaea/lead"])
def test_only_mediator_principals_and_delegates_declare(world: World, member: str) -> None:
    with pytest.raises(NotAuthorizedError, match="may not declare actor positions"):
        declare(world, by=member)


def test_a_mediator_delegate_declares(world: World) -> None:
    assert declare(world, by="med/staff")


@pytest.mark.parametrize(
    ("issues", "expected"),
    [
        ((), {"issues": "items"}),
        ((issue(), issue()), {"issues": "unique"}),
        (
            (IssuePositions(issue="Bad Name", reference=101.0, actors=(actor(),)),),
            {"issues.0.issue": "pattern", "issues.0.reference": "range"},
        ),
        ((IssuePositions(issue="snapback", reference=None, actors=()),), {"issues.0.actors": "items"}),
        (
            (
                IssuePositions(
                    issue="snapback",
                    reference=None,
                    actors=tuple(actor(f"a{i}") for i in range(MAX_ACTORS + 1)),
                ),
            ),
            {"issues.0.actors": "items"},
        ),
        ((issue("snapback", actor(), actor()),), {"issues.0.actors": "unique"}),
        ((issue("snapback", actor(position=None)),), {"issues.0.actors.0.position": "one_of"}),
        ((issue("snapback", actor(value=3.0)),), {"issues.0.actors.0.position": "one_of"}),
        ((issue("snapback", actor(position=None, value=float("nan"))),), {"issues.0.actors.0.value": "type"}),
        (
            (issue("snapback", actor("X", salience=130.0, capability=-1.0, position=True)),),
            {
                "issues.0.actors.0.actor": "pattern",
                "issues.0.actors.0.salience": "range",
                "issues.0.actors.0.capability": "range",
                "issues.0.actors.0.position": "type",
            },
        ),
    ],
)
def test_a_declaration_s_shape_is_checked_at_construction(
    world: World, issues: Any, expected: dict[str, str]
) -> None:
    with pytest.raises(SchemaViolationError) as error:
        world.cmd(DeclareActorPositions, "med/chair", issues=issues)
    assert violations(error) == expected


def test_check_actor() -> None:
    assert check_actor("eu.council") == []
    assert check_actor(3)[0].rule == "pattern"


# -- forecasts ------------------------------------------------------------------------------------


def test_the_service_records_a_forecast_of_the_declarations_in_force(world: World) -> None:
    declare(world)
    (event,) = record(world)
    assert isinstance(event, ForecastRecorded)
    forecast = world.s.forecasts.forecasts[event.forecast_id]
    assert forecast.requested_by == "med/chair"
    assert forecast.issues[0].flagged(forecast.threshold)
    assert not answers("x", spread=40.0).flagged(40.0)
    assert world.s.forecasts.stale_cause(event.forecast_id) is None


def test_a_later_declaration_of_its_issue_makes_a_forecast_stale(world: World) -> None:
    declare(world, issue("sanctions_relief"), issue("snapback"))
    (forecast,) = record(world)
    world.tick(60)
    declare(world, issue("enrichment_cap_pct"))  # another issue: still current
    assert world.s.forecasts.stale_cause(forecast.forecast_id) is None
    (later,) = declare(world, issue("snapback"))
    cause = world.s.forecasts.stale_cause(forecast.forecast_id)
    assert cause is not None
    assert (cause.declaration_id, cause.issues, cause.at) == (later.declaration_id, ("snapback",), world.now)


def test_only_the_service_member_records_a_forecast(world: World) -> None:
    declare(world)
    with pytest.raises(NotAuthorizedError, match="only the service member med/service"):
        record(world, by="med/chair")


@pytest.mark.parametrize("member", ["iran/lead", "med/obs"])
def test_the_forecast_must_be_requested_by_mediator_staff(world: World, member: str) -> None:
    declare(world)
    with pytest.raises(NotAuthorizedError, match="may not request a forecast"):
        record(world, requested_by=member)


def test_no_forecast_without_declarations(world: World) -> None:
    with pytest.raises(TrackStateError, match="no actor positions are declared"):
        record(world, declarations=("ab" * 32,), issues=(answers("snapback"),))


def test_a_forecast_computed_before_a_newer_declaration_is_refused(world: World) -> None:
    declare(world)
    old = world.s.forecasts.watermark()
    declare(world, issue("snapback"))
    with pytest.raises(TrackStateError, match="no longer the ones in force"):
        record(world, declarations=old)


def test_a_forecast_answers_every_declared_issue(world: World) -> None:
    declare(world, issue("sanctions_relief"), issue("snapback"))
    with pytest.raises(SchemaViolationError) as error:
        record(world, issues=(answers("snapback"),))
    assert violations(error) == {"issues": "declared"}


def _bad_answers() -> IssueForecast:
    return IssueForecast(
        issue="snapback",
        answers=(ModelAnswer(model="Bad", value=120.0), ModelAnswer(model="Bad", value=None)),
        spread=-1.0,
        low_model="compromise",
        high_model="Bad",
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"requested_by": "nobody", "declarations": (), "threshold": 101.0, "issues": ()},
            {"requested_by": "pattern", "declarations": "items", "threshold": "range", "issues": "items"},
        ),
        (
            {"declarations": ("xyz",), "issues": (answers("a"), answers("a"))},
            {"declarations.0": "pattern", "issues": "unique"},
        ),
        (
            {"issues": (IssueForecast(issue="a", answers=(), spread=0.0, low_model="m", high_model="m"),)},
            {"issues.0.answers": "items"},
        ),
        (
            {"issues": (_bad_answers(),)},
            {
                "issues.0.spread": "range",
                "issues.0.answers": "unique",
                "issues.0.low_model": "one_of",
                "issues.0.answers.0.model": "pattern",
                "issues.0.answers.1.model": "pattern",
                "issues.0.answers.0.value": "range",
            },
        ),
    ],
)
def test_a_forecast_s_shape_is_checked_at_construction(
    world: World, fields: Fields, expected: dict[str, str]
) -> None:
    values: Fields = {
        "requested_by": "med/chair",
        "declarations": ("ab" * 32,),
        "through": world.now,
        "threshold": 40.0,
        "issues": (answers("a"),),
    } | fields
    with pytest.raises(SchemaViolationError) as error:
        world.cmd(RecordForecast, "med/service", **values)
    assert violations(error) == expected


# -- sharing and visibility -----------------------------------------------------------------------


def test_parties_see_nothing_until_the_mediator_shares(world: World) -> None:
    (declared,) = declare(world)
    (forecast,) = record(world)
    for member in MEMBERS:
        mediator = member.startswith("med/")
        assert visible_to(world.s, member, declared) is mediator
        assert visible_to(world.s, member, forecast) is mediator
    (shared,) = share(world, forecast.forecast_id, "iran", "iaea")
    assert isinstance(shared, ForecastShared)
    assert world.s.forecasts.forecasts[forecast.forecast_id].shared_with == {"iran", "iaea"}
    for member in MEMBERS:
        party = member.partition("/")[0]
        sees = party in {"med", "iran", "iaea"}
        assert visible_to(world.s, member, forecast) is sees, member
        assert visible_to(world.s, member, shared) is sees, member
        assert visible_to(world.s, member, declared) is (party == "med"), member


def test_sharing_needs_mediator_staff_a_forecast_and_an_audience(world: World) -> None:
    declare(world)
    (forecast,) = record(world)
    with pytest.raises(NotAuthorizedError, match="may not share a forecast"):
        share(world, forecast.forecast_id, "iran", by="iran/lead")
    with pytest.raises(TrackStateError, match="no forecast"):
        share(world, "cd" * 32, "iran")
    with pytest.raises(InvalidRecipientError, match="not the witness swiss"):
        share(world, forecast.forecast_id, "swiss")
    with pytest.raises(InvalidRecipientError, match="not the mediator med"):
        share(world, forecast.forecast_id, "med")
    with pytest.raises(UnknownPartyError):
        share(world, forecast.forecast_id, "nobody")


@pytest.mark.parametrize(
    ("parties", "expected"),
    [
        ((), {"parties": "items"}),
        (("iran", "iran"), {"parties": "unique"}),
        (("Iran",), {"parties.0": "pattern"}),
    ],
)
def test_a_share_s_shape_is_checked(world: World, parties: tuple[str, ...], expected: dict[str, str]) -> None:
    with pytest.raises(SchemaViolationError) as error:
        world.cmd(ShareForecast, "med/chair", forecast_id="ab" * 32, parties=parties)
    assert violations(error) == expected


def test_the_events_round_trip_and_fold(world: World) -> None:
    declare(world, issue("enrichment_cap_pct", actor("iran", position=None, value=45.0), reference=10.0))
    (forecast,) = record(world)
    share(world, forecast.forecast_id, "usa")
    for event in world.events[-3:]:
        assert event_from_dict(event.to_dict()) == event
    assert fold(world.events).forecasts == world.s.forecasts


def test_the_command_bodies_round_trip_on_the_wire(world: World) -> None:
    declare(world)
    commands = [
        world.cmd(
            DeclareActorPositions, "med/chair", issues=(issue("snapback", actor(position=None, value=2.5)),)
        ),
        world.cmd(
            RecordForecast,
            "med/service",
            requested_by="med/chair",
            declarations=world.s.forecasts.watermark(),
            through=world.now,
            threshold=40.0,
            issues=(answers("snapback"),),
        ),
        world.cmd(ShareForecast, "med/chair", forecast_id="ab" * 32, parties=("iran",)),
    ]
    for command in commands:
        envelope = {k: getattr(command, k) for k in ("track", "member", "key_id", "issued_at", "digest")}
        body = command_body(command)
        assert read_body(type(command), loads_strict(canonicalize(body)), envelope) == command


def test_an_unknown_forecast_is_seen_by_no_party(world: World) -> None:
    declare(world)
    (forecast,) = record(world)
    other = populate(World())
    assert not visible_to(other.s, "iran/lead", forecast)
