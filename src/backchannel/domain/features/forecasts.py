"""The forecasts feature (issue #10 item 8, ADR-0045): private actor positions, forecasts as track events.

- ``declare_actor_positions`` (a mediator principal or delegate): per agenda
  issue, each actor's position, salience and capability. An unknown issue, a
  ``value`` outside a number issue's range or given for another kind of issue
  is a field-level :class:`~backchannel.domain.errors.SchemaViolationError`;
  a ``value`` is mapped to 0-100 on the issue's range. The event
  ``forecast.positions_declared`` is seen by the mediator only, never by a
  party.
- ``record_forecast`` (the service member ``<mediator>/service``, for the
  mediator member ``requested_by``): the models' answers the service computed
  from the positions in force. Its watermark must name exactly the
  declarations in force (otherwise a newer declaration arrived while it was
  computed: :class:`~backchannel.domain.errors.TrackStateError`), and it must
  answer every declared issue. ``forecast.recorded`` is seen by the mediator
  and by the parties it was shared with.
- ``share_forecast`` (a mediator principal or delegate): show a forecast to
  delegations or inspectors; ``forecast.shared`` is seen by the parties it names.

A later declaration of an issue makes every earlier forecast of it stale
(:meth:`~backchannel.domain.forecasting.ForecastBook.stale_cause`). This module
runs no model (the service does) and reads no clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from backchannel.domain._draft import Draft
from backchannel.domain._event_base import Event
from backchannel.domain._rules import require, stamp
from backchannel.domain.agenda import NumberIssue
from backchannel.domain.errors import (
    InvalidRecipientError,
    NotAuthorizedError,
    SchemaViolationError,
    TrackStateError,
    Violation,
)
from backchannel.domain.features.forecast_commands import DeclareActorPositions, RecordForecast, ShareForecast
from backchannel.domain.features.forecast_events import (
    ActorPositionsDeclared,
    ForecastRecorded,
    ForecastShared,
)
from backchannel.domain.forecasting import Declaration, ForecastRecord, IssuePositions
from backchannel.domain.ids import PartyKind, Role
from backchannel.domain.registry import Feature, command, event
from backchannel.domain.state import TrackState

__all__ = ["FORECASTS", "forecast_visible_to"]

_MEDIATOR = (PartyKind.MEDIATOR,)
_STAFF = (Role.PRINCIPAL, Role.DELEGATE)
_AUDIENCE = (PartyKind.DELEGATION, PartyKind.INSPECTOR)


def _mapped(state: TrackState, n: int, declared: IssuePositions) -> tuple[IssuePositions, list[Violation]]:
    """The issue's positions on 0-100, and the violations against the agenda."""
    path = f"issues.{n}"
    issue = None if state.agenda is None else state.agenda.agenda.issue(declared.issue)
    if issue is None:
        version = "no agenda" if state.agenda is None else f"agenda version {state.agenda.agenda.version}"
        return declared, [
            Violation(
                f"{path}.issue", "agenda", f"{path}.issue: {declared.issue!r} is not an issue of {version}"
            )
        ]
    found: list[Violation] = []
    actors = []
    for i, actor in enumerate(declared.actors):
        if actor.value is None:
            actors.append(actor)
            continue
        where = f"{path}.actors.{i}.value"
        if not isinstance(issue, NumberIssue):
            found.append(
                Violation(
                    where, "kind", f"{where}: a {issue.kind} issue takes a position on 0-100, not a value"
                )
            )
        elif not issue.minimum <= actor.value <= issue.maximum:
            found.append(
                Violation(
                    where,
                    "range",
                    f"{where}: must be in [{issue.minimum:g}, {issue.maximum:g}] {issue.unit} "
                    f"(got {actor.value:g})",
                )
            )
        else:
            scale = (actor.value - issue.minimum) / (issue.maximum - issue.minimum) * 100
            actors.append(replace(actor, position=scale))
    return replace(declared, actors=tuple(actors)), found


def declare_actor_positions(state: TrackState, command: DeclareActorPositions, now: datetime) -> list[Event]:
    """Check the declaration against the agenda and map values to 0-100 (see the module docstring)."""
    require(state, command.member, _MEDIATOR, _STAFF, "declare actor positions")
    issues, found = [], []
    for n, declared in enumerate(command.issues):
        mapped, violations = _mapped(state, n, declared)
        issues.append(mapped)
        found += violations
    if found:
        raise SchemaViolationError(found)
    return [ActorPositionsDeclared(**stamp(command, now), issues=tuple(issues))]


def record_forecast(state: TrackState, command: RecordForecast, now: datetime) -> list[Event]:
    """Check who records, the watermark and the issues (see the module docstring)."""
    if command.member != state.service_member:
        raise NotAuthorizedError(
            f"{command.member} may not record a forecast: only the service member "
            f"{state.service_member} records the forecasts it computed"
        )
    require(state, command.requested_by, _MEDIATOR, _STAFF, "request a forecast")
    book = state.forecasts
    if not book.current:
        raise TrackStateError("no actor positions are declared on this track: declare_actor_positions first")
    if command.declarations != book.watermark():
        raise TrackStateError(
            "the forecast read declarations that are no longer the ones in force "
            f"({', '.join(book.watermark())}): ask for a new forecast"
        )
    answered = sorted(i.issue for i in command.issues)
    if answered != sorted(book.current):
        raise SchemaViolationError(
            [
                Violation(
                    "issues",
                    "declared",
                    f"issues: must answer the declared issues {sorted(book.current)}, got {answered}",
                )
            ]
        )
    return [
        ForecastRecorded(
            **stamp(command, now),
            requested_by=command.requested_by,
            declarations=command.declarations,
            through=command.through,
            threshold=command.threshold,
            issues=command.issues,
        )
    ]


def share_forecast(state: TrackState, command: ShareForecast, now: datetime) -> list[Event]:
    """Check the forecast and the parties (delegations or inspectors of the track)."""
    require(state, command.member, _MEDIATOR, _STAFF, "share a forecast")
    if command.forecast_id not in state.forecasts.forecasts:
        raise TrackStateError(f"no forecast {command.forecast_id} on track {state.track}")
    for party in command.parties:
        kind = state.party(party).kind
        if kind not in _AUDIENCE:
            raise InvalidRecipientError(
                f"a forecast is shared with delegations and inspectors, not the {kind} {party}"
            )
    return [ForecastShared(**stamp(command, now), forecast_id=command.forecast_id, parties=command.parties)]


def _declared(draft: Draft, event: ActorPositionsDeclared) -> None:
    declaration = Declaration(
        event.declaration_id, draft.version, event.at, event.by, tuple(i.issue for i in event.issues)
    )
    draft.forecasts = draft.forecasts.declare(declaration, event.issues)


def _recorded(draft: Draft, event: ForecastRecorded) -> None:
    draft.forecasts = draft.forecasts.record(
        ForecastRecord(
            event.forecast_id,
            draft.version,
            event.at,
            event.requested_by,
            event.declarations,
            event.through,
            event.threshold,
            event.issues,
        )
    )


def _shared(draft: Draft, event: ForecastShared) -> None:
    draft.forecasts = draft.forecasts.share(event.forecast_id, event.parties)


def forecast_visible_to(state: TrackState, party: str, forecast_id: str) -> bool:
    """True if members of ``party`` (not the mediator's) may see forecast ``forecast_id``: shared with it."""
    record = state.forecasts.forecasts.get(forecast_id)
    return record is not None and party in record.shared_with


def _nobody(state: TrackState, party: str, event: ActorPositionsDeclared) -> bool:
    del state, party, event
    return False  # declared positions are the mediator's alone


def _sees_recorded(state: TrackState, party: str, event: ForecastRecorded) -> bool:
    return forecast_visible_to(state, party, event.forecast_id)


def _sees_shared(state: TrackState, party: str, event: ForecastShared) -> bool:
    del state
    return party in event.parties


FORECASTS = Feature(
    "forecasts",
    commands=(
        command(DeclareActorPositions, "declare_actor_positions", declare_actor_positions),
        command(RecordForecast, "record_forecast", record_forecast),
        command(ShareForecast, "share_forecast", share_forecast),
    ),
    events=(
        event(ActorPositionsDeclared, _declared, _nobody),
        event(ForecastRecorded, _recorded, _sees_recorded),
        event(ForecastShared, _shared, _sees_shared),
    ),
)
"""Forecasts on a live track (issue #10 item 8, ADR-0045)."""
