"""Decide and apply obligation commands (called by :func:`backchannel.domain.track.decide` and ``evolve``).

Rules (ADR-0018), beyond the shapes the commands check:

- **define_obligation**: a mediator principal. The id is new; the bound
  ``party`` is a delegation; each ``shared_with`` party exists and is a
  delegation or an inspector. When the metric names an issue of the track's
  current agenda, that issue is a number and ``unit`` is its unit (a
  mismatch is refused naming ``unit``; any other kind of issue, naming
  ``metric``). Every violation is reported at once.
- **record_consumption**: a principal or delegate of an inspector party, or
  the service. The obligation exists and is visible to the signer (every
  obligation is, to inspectors); ``unit`` is the obligation's;
  ``observed_at`` is not after the decision time. The record is metered by
  :func:`meter_events` (steps down due first, then the record, then a step
  up on an overdraw). It stays open beside counted attestations, for
  consumption that is not a quorum measurement (a report, a declared
  transfer).
- **review_obligation**: the service. Takes the steps down due by the
  decision time (:func:`~backchannel.domain.agreements.obligations.advance`);
  none due is a :class:`~backchannel.domain.errors.TrackStateError`.

**The attestation seam.** :func:`meter_attested` is the one call an
attestation quorum makes (:func:`~backchannel.domain.agreements.attestations.file_attestation`,
when it emits ``attestation.quorum_reached``): it meters a :class:`Consumption`
against every obligation on its metric (and party, when it names one; a
counted attestation names none) whose unit matches, and returns the events
to append after the attestation's own.

:func:`apply` folds an obligation event into the track's obligations (a
persistent map), recomputing the exact bucket from amounts and times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from immutables import MapMutation

from backchannel.domain._event_base import Event
from backchannel.domain._rules import Stamp, require, stamp
from backchannel.domain.agenda import NumberIssue
from backchannel.domain.agreements.obligation_events import (
    ObligationDeescalated,
    ObligationDefined,
    ObligationEscalated,
    ObligationEvent,
    ObligationMetered,
)
from backchannel.domain.agreements.obligations import (
    Bucket,
    Consumption,
    LadderStep,
    ObligationRecord,
    ObligationSpec,
    StepDown,
    advance,
    consume,
    instant_of,
    instant_us,
    meter,
    micro_from_text,
    micro_text,
    quantity_micro,
    start,
    tokens_at,
)
from backchannel.domain.commands import DefineObligation, RecordConsumption, ReviewObligation
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError, Violation
from backchannel.domain.ids import PartyKind, Role
from backchannel.domain.keys import time_text
from backchannel.domain.state import TrackState
from backchannel.errors import DomainError

__all__ = [
    "UnknownObligationError",
    "apply",
    "define_obligation",
    "meter_attested",
    "meter_events",
    "obligation_visible_to",
    "record_consumption",
    "records",
    "review_obligation",
]

_SHAREABLE = (PartyKind.DELEGATION, PartyKind.INSPECTOR)
_RECORDERS = (Role.PRINCIPAL, Role.DELEGATE)


class UnknownObligationError(DomainError):
    """No obligation of that id exists in the track (or the signer may not see it)."""


def _obligations(state: TrackState) -> Mapping[str, ObligationRecord]:
    return state.obligations


def obligation_visible_to(state: TrackState, party: str, record: ObligationRecord) -> bool:
    """True if ``party`` sees the obligation: the mediator, the bound party, inspectors, ``shared_with``."""
    kind = state.parties[party].kind
    return (
        kind in {PartyKind.MEDIATOR, PartyKind.INSPECTOR}
        or party == record.spec.party
        or party in record.spec.shared_with
    )


def _record(state: TrackState, obligation: str, party: str) -> ObligationRecord:
    record = _obligations(state).get(obligation)
    if record is None or not obligation_visible_to(state, party, record):
        raise UnknownObligationError(f"no obligation {obligation!r} visible to {party} in {state.track}")
    return record


# --------------------------------------------------------------------------------------------------
# define_obligation
# --------------------------------------------------------------------------------------------------


def define_obligation(state: TrackState, command: DefineObligation, now: datetime) -> list[Event]:
    """Decide :class:`DefineObligation`."""
    require(state, command.member, (PartyKind.MEDIATOR,), (Role.PRINCIPAL,), "define obligations")
    if command.obligation in _obligations(state):
        raise TrackStateError(f"obligation {command.obligation!r} is already defined")
    found = _party_violations(state, command) + _agenda_violations(state, command)
    if found:
        raise SchemaViolationError(found)
    spec = ObligationSpec(
        obligation=command.obligation,
        party=command.party,
        metric=command.metric,
        unit=command.unit,
        rate=quantity_micro(command.rate, "rate", positive=True)[0],
        burst=quantity_micro(command.burst, "burst", positive=True)[0],
        period_seconds=command.period_seconds,
        ladder=command.ladder,
        hold_seconds=command.hold_seconds,
        recovery_pct=command.recovery_pct,
        shared_with=command.shared_with,
    )
    return [ObligationDefined(**stamp(command, now), obligation=command.obligation, spec=spec)]


def _party_violations(state: TrackState, command: DefineObligation) -> list[Violation]:
    found: list[Violation] = []
    bound = state.parties.get(command.party)
    if bound is None or bound.kind is not PartyKind.DELEGATION:
        what = "not part of the track" if bound is None else f"a {bound.kind} party"
        found.append(Violation("party", "delegation", f"party: {command.party} is {what}, not a delegation"))
    for index, party in enumerate(command.shared_with):
        other = state.parties.get(party)
        if other is None or other.kind not in _SHAREABLE:
            what = "not part of the track" if other is None else f"a {other.kind} party"
            found.append(
                Violation(
                    f"shared_with.{index}",
                    "party",
                    f"shared_with.{index}: {party} is {what}, not a delegation or inspector",
                )
            )
    return found


def _agenda_violations(state: TrackState, command: DefineObligation) -> list[Violation]:
    rule = state.attestations.metrics.get(command.metric)
    if rule is not None and rule.unit != command.unit:
        # attested in another unit, it would never be fed: refuse rather than skip it forever
        message = f"unit: {command.unit!r} is not {rule.unit!r}, the unit {command.metric} is attested in"
        return [Violation("unit", "unit", message)]
    issue = None if state.agenda is None else state.agenda.agenda.issue(command.metric)
    if issue is None:
        return []  # a metric of its own: its unit is what the obligation says
    version = state.agenda.version if state.agenda is not None else 0
    if not isinstance(issue, NumberIssue):
        return [
            Violation(
                "metric",
                "number_issue",
                f"metric: {command.metric} is a {issue.kind} issue of agenda version {version}, not a number",
            )
        ]
    if issue.unit != command.unit:
        return [
            Violation(
                "unit",
                "unit",
                f"unit: {command.unit!r} does not match the agenda's {issue.unit!r} "
                f"for {command.metric} (version {version})",
            )
        ]
    return []


# --------------------------------------------------------------------------------------------------
# Metering: record_consumption, the seam, review_obligation
# --------------------------------------------------------------------------------------------------


def record_consumption(state: TrackState, command: RecordConsumption, now: datetime) -> list[Event]:
    """Decide :class:`RecordConsumption`."""
    signer = state.member(command.member)
    kind = state.parties[signer.party].kind
    is_inspector = kind is PartyKind.INSPECTOR and signer.role in _RECORDERS
    if not is_inspector and signer.role is not Role.SERVICE:
        raise NotAuthorizedError(
            f"{command.member} ({signer.role} of {kind} party {signer.party}) may not record consumption: "
            "only a principal or delegate of an inspector party, or the service, may"
        )
    record = _record(state, command.obligation, signer.party)
    if command.unit != record.spec.unit:
        raise SchemaViolationError(
            [
                Violation(
                    "unit",
                    "unit",
                    f"unit: {command.unit!r} does not match obligation {command.obligation}'s "
                    f"{record.spec.unit!r} ({record.spec.metric})",
                )
            ]
        )
    amount = quantity_micro(command.amount, "amount", positive=False)[0]
    consumption = Consumption(
        record.spec.metric, amount, command.unit, command.observed_at, command.source, record.spec.party
    )
    return meter_events(record, consumption, stamp(command, now))


def _not_future(consumption: Consumption, now: datetime) -> None:
    if consumption.observed_at > now:
        raise SchemaViolationError(
            [
                Violation(
                    "observed_at",
                    "future",
                    f"observed_at: {time_text(consumption.observed_at)} is after the decision time "
                    f"{time_text(now)}",
                )
            ]
        )


def meter_events(record: ObligationRecord, consumption: Consumption, common: Stamp) -> list[Event]:
    """The events of metering ``consumption`` against ``record``: steps down due, the record, a step up.

    Args:
        record: The obligation (its unit is ``consumption.unit``: the caller checked).
        consumption: The record (``amount`` in micro-units).
        common: The event fields of the command that carries it (:func:`~backchannel.domain._rules.stamp`).

    Raises:
        SchemaViolationError: ``observed_at`` is after the decision time (``common["at"]``).
    """
    _not_future(consumption, common["at"])
    spec = record.spec
    observed = instant_us(consumption.observed_at)
    bucket, downs, metered = meter(spec, record.bucket, observed, consumption.amount)
    events: list[Event] = [_deescalated(spec, down, common) for down in downs]
    events.append(
        ObligationMetered(
            **common,
            obligation=spec.obligation,
            amount=micro_text(metered.amount),
            unit=spec.unit,
            observed_at=consumption.observed_at,
            metered_at=instant_of(metered.at),
            source=consumption.source,
            available=spec.text(metered.available),
            tokens=spec.text(metered.tokens),
            overdraw=spec.text(metered.overdraw, up=True),
            level=bucket.level,
            tier=spec.tier(bucket.level),
        )
    )
    if metered.level > metered.from_level:
        events.append(
            ObligationEscalated(
                **common,
                obligation=spec.obligation,
                from_level=metered.from_level,
                to_level=metered.level,
                tier=spec.tier(metered.level),
                effective_at=instant_of(metered.at),
                observed_at=consumption.observed_at,
                source=consumption.source,
                overdraw=spec.text(metered.overdraw, up=True),
                tokens=spec.text(metered.tokens),
            )
        )
    return events


def _deescalated(spec: ObligationSpec, down: StepDown, common: Stamp) -> ObligationDeescalated:
    return ObligationDeescalated(
        **common,
        obligation=spec.obligation,
        from_level=down.from_level,
        to_level=down.to_level,
        tier=spec.tier(down.to_level),
        effective_at=instant_of(down.at),
        held_since=instant_of(down.held_since),
        tokens=spec.text(down.tokens),
    )


def meter_attested(state: TrackState, consumption: Consumption, common: Stamp) -> list[Event]:
    """Meter an attested consumption against every matching obligation: **the attestation seam**.

    An obligation matches when its metric is ``consumption.metric``, its unit
    is ``consumption.unit`` and (if ``consumption.party`` is set) it binds that
    party. Obligations are metered in id order; each gets the events of
    :func:`meter_events`. No match: ``[]``.

    Args:
        state: The track's state before the attestation's own events.
        consumption: The attested value (``amount`` in micro-units; see
            :func:`~backchannel.domain.agreements.obligations.quantity_micro`).
        common: The event fields of the attestation's command.

    Raises:
        SchemaViolationError: ``observed_at`` is after the decision time.
    """
    events: list[Event] = []
    for obligation in sorted(_obligations(state)):
        record = _obligations(state)[obligation]
        spec = record.spec
        if spec.metric != consumption.metric or spec.unit != consumption.unit:
            continue
        if consumption.party is not None and spec.party != consumption.party:
            continue
        events += meter_events(record, consumption, common)
    return events


def review_obligation(state: TrackState, command: ReviewObligation, now: datetime) -> list[Event]:
    """Decide :class:`ReviewObligation`."""
    require(state, command.member, (PartyKind.MEDIATOR,), (Role.SERVICE,), "review obligations")
    record = _record(state, command.obligation, state.mediator)
    _, downs = advance(record.spec, record.bucket, instant_us(now))
    if not downs:
        due = record.next_step_down()
        if record.level == 0:
            when = "it is at the lowest tier"
        else:
            when = "not within the calendar" if due is None else f"the next is due at {time_text(due)}"
        raise TrackStateError(f"obligation {command.obligation}: no step down is due ({when})")
    common = stamp(command, now)
    return [_deescalated(record.spec, down, common) for down in downs]


# --------------------------------------------------------------------------------------------------
# Applying events
# --------------------------------------------------------------------------------------------------


def apply(obligations: MapMutation[str, ObligationRecord], event: ObligationEvent) -> None:
    """Fold one obligation event into ``obligations`` (trusted: what decide emitted).

    Raises:
        KeyError: the event names an obligation that was never defined.
    """
    if isinstance(event, ObligationDefined):
        bucket = start(event.spec, instant_us(event.at))
        obligations[event.obligation] = ObligationRecord(event.spec, event.at, event.by, bucket)
        return
    record = obligations[event.obligation]
    spec = record.spec
    if isinstance(event, ObligationMetered):
        amount = micro_from_text(event.amount, "amount")
        at, observed = instant_us(event.metered_at), instant_us(event.observed_at)
        bucket, metered = consume(spec, record.bucket, at, amount, observed)
        obligations[event.obligation] = replace(
            record,
            bucket=bucket,
            records=record.records + 1,
            consumed=record.consumed + amount,
            overdraws=record.overdraws + bool(metered.overdraw),
        )
    elif isinstance(event, ObligationEscalated):
        step = LadderStep(
            event.effective_at,
            event.from_level,
            event.to_level,
            event.at,
            event.command_digest,
            event.source,
            event.overdraw,
            event.tokens,
            event.observed_at,
            None,
        )
        obligations[event.obligation] = replace(record, steps=(*record.steps, step))
    else:
        assert isinstance(event, ObligationDeescalated)
        at = instant_us(event.effective_at)
        tokens = tokens_at(spec, record.bucket, at)
        step = LadderStep(
            event.effective_at,
            event.from_level,
            event.to_level,
            event.at,
            event.command_digest,
            None,
            None,
            event.tokens,
            None,
            event.held_since,
        )
        obligations[event.obligation] = replace(
            record, bucket=Bucket(at, tokens, event.to_level, at), steps=(*record.steps, step)
        )


def records(state: TrackState) -> Iterable[ObligationRecord]:
    """Every obligation of the track, in id order."""
    return [state.obligations[o] for o in sorted(state.obligations)]
