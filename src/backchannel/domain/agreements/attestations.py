"""Inspectors' attestations: decide ``define_metric`` and ``file_attestation``; who sees them.

**Metrics.** The mediator's principal defines each metric once
(:class:`DefineMetric`): its unit, optionally the agenda number issue it
measures (then its unit must be that issue's unit, else the command is refused
naming ``unit``), its panel of k inspector parties (each an admitted inspector
party), the quorum m, the tolerance (absolute, or relative up to 1) and the
observation window (epoch-aligned; 86400 s is the UTC day).

**Attestations.** A principal or delegate of an inspector party on the
metric's panel files a value (:class:`FileAttestation`):

- the unit must be the metric's (a mismatch is refused naming ``unit``);
- ``observed_at`` may not be later than the decision time plus
  :data:`MAX_FUTURE_SKEW` (refused naming ``observed_at``); earlier is fine:
  the log records when it was filed, so back-filled data is visible as such;
- a party attests one (metric, site, window) at most once: a second one is
  refused, never merged or overwritten.

Deciding an attestation yields ``attestation.filed``, then
``attestation.conflict_flagged`` if its value disagrees with any earlier one
of the same metric, site and window (both stay recorded, side by side), then
``attestation.quorum_reached`` if the window had no counted value yet and its
largest agreeing cluster (:func:`~backchannel.domain.agreements.quorum.agreeing_cluster`)
now holds m parties; the event carries the value that counts (the cluster's
low median). A counted value is never replaced: later attestations of the
window are recorded and, if they disagree, flagged.

**Obligations fed by counted values** (ADR-0018, "the attestation seam").
When a quorum is reached, the counted value is also attested consumption: the
decision appends, after ``attestation.quorum_reached``, the events of
:func:`~backchannel.domain.agreements.obligation_rules.meter_attested` for
every obligation whose metric is the attested metric and whose unit is its
unit (in obligation id order; another unit is skipped):

- **party**: an attestation names a site, not a party, so the consumption
  names none and *every* obligation on the metric is metered (an obligation
  binds its own party; a metric measuring one party's consumption is the
  mediator's choice of name). Each site's counted value is a record of its own;
- **amount**: the counted value, as exact micro-units;
- **observed at**: the ``observed_at`` of the attestation whose value counts
  (the cluster's low median), but no later than the decision time (an
  observation inside :data:`MAX_FUTURE_SKEW` is metered at the decision time);
- **source**: that attestation's id (the command that reached the quorum is
  the events' ``command_digest``).

On a metric that meters an obligation, a value must therefore be a
consumption amount (>= 0, at most 6 decimals, below 10^9 units): otherwise the
attestation is refused naming ``value``. A counted value that is not one (an
attestation filed before the obligation was defined) meters nothing.

**Visibility** (:func:`attestation_visible`): metric definitions are public
(like the agenda). Delegations see every attestation, quorum and conflict (they
are the ones verified). An inspector party sees its own attestations, and the
quorum and conflict events that name one of them, but not other inspectors'
values before it has filed its own: measurements stay independent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from backchannel.domain._event_base import Event
from backchannel.domain._rules import require, stamp
from backchannel.domain.agenda import NumberIssue
from backchannel.domain.agreements import obligation_rules
from backchannel.domain.agreements.attestation_book import AttestationEvent, MetricRule
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.attestation_events import (
    AttestationConflictFlagged,
    AttestationFiled,
    AttestationQuorumReached,
    MetricDefined,
)
from backchannel.domain.agreements.obligations import Consumption, quantity_micro
from backchannel.domain.agreements.quorum import agreeing_cluster, disagreeing
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError, Violation
from backchannel.domain.ids import PartyKind, Role, message_id_of, party_of
from backchannel.domain.keys import time_text
from backchannel.domain.state import TrackState

__all__ = ["MAX_FUTURE_SKEW", "MAX_METRICS", "attestation_visible", "define_metric", "file_attestation"]

MAX_FUTURE_SKEW = timedelta(minutes=5)
"""How far after the decision time an attestation's ``observed_at`` may be (clock skew)."""
MAX_METRICS = 256
"""At most this many metrics per track."""


def define_metric(state: TrackState, command: DefineMetric, now: datetime) -> list[MetricDefined]:
    """Decide :class:`DefineMetric`."""
    require(state, command.member, (PartyKind.MEDIATOR,), (Role.PRINCIPAL,), "define metrics")
    book = state.attestations
    if command.metric in book.metrics:
        raise TrackStateError(f"metric {command.metric} is already defined: a metric's rule never changes")
    if len(book.metrics) >= MAX_METRICS:
        raise TrackStateError(f"track {state.track} already defines {MAX_METRICS} metrics, the most it may")
    found: list[Violation] = []
    for i, party in enumerate(command.inspectors):
        record = state.parties.get(party)
        if record is None or record.kind is not PartyKind.INSPECTOR:
            what = "not a party of the track" if record is None else f"a {record.kind} party"
            message = f"inspectors.{i}: {party} is {what}, not an inspector"
            found.append(Violation(f"inspectors.{i}", "inspector", message))
    if command.issue is not None:
        found += _issue_violations(state, command.issue, command.unit)
    other_units = sorted(
        o.spec.obligation
        for o in state.obligations.values()
        if o.spec.metric == command.metric and o.spec.unit != command.unit
    )
    if other_units:
        message = f"unit: obligation(s) {', '.join(other_units)} meter {command.metric} in another unit"
        found.append(Violation("unit", "unit", message))
    if found:
        raise SchemaViolationError(found)
    return [
        MetricDefined(
            **stamp(command, now),
            metric=command.metric,
            unit=command.unit,
            issue=command.issue,
            inspectors=command.inspectors,
            quorum=command.quorum,
            tolerance=command.tolerance,
            tolerance_kind=command.tolerance_kind,
            window_seconds=command.window_seconds,
        )
    ]


def _issue_violations(state: TrackState, name: str, unit: str) -> list[Violation]:
    issues = {} if state.agenda is None else {i.name: i for i in state.agenda.agenda.issues}
    issue = issues.get(name)
    if not isinstance(issue, NumberIssue):
        what = "not an issue of the current agenda" if issue is None else f"a {issue.kind} issue"
        return [Violation("issue", "number_issue", f"issue: {name!r} is {what}, not a number issue")]
    if issue.unit != unit:
        return [
            Violation("unit", "unit", f"unit: {unit!r} does not match the agenda's {issue.unit!r} for {name}")
        ]
    return []


def file_attestation(state: TrackState, command: FileAttestation, now: datetime) -> list[Event]:
    """Decide :class:`FileAttestation` (see the module docstring for the events)."""
    inspector = (PartyKind.INSPECTOR,)
    signer = require(state, command.member, inspector, (Role.PRINCIPAL, Role.DELEGATE), "file attestations")
    book = state.attestations
    rule = book.metric(command.metric)
    if signer.party not in rule.inspectors:
        raise NotAuthorizedError(
            f"{signer.party} is not on the panel of {rule.name} ({', '.join(rule.inspectors)})"
        )
    found = _filing_violations(state, rule, command, now)
    if found:
        raise SchemaViolationError(found)
    index = rule.window_of(command.observed_at)
    start = rule.window_start(index)
    window = book.window(rule.name, command.site, index)
    if signer.party in window.parties:
        raise TrackStateError(
            f"{signer.party} already attested {rule.name} at {command.site} for the window from "
            f"{time_text(start)}: attestations are never overwritten"
        )
    attestation_id = message_id_of(command.digest)
    if attestation_id in book.attestations:
        raise TrackStateError(f"attestation {attestation_id} was already filed")
    events: list[Event] = [
        AttestationFiled(
            **stamp(command, now),
            metric=rule.name,
            value=command.value,
            unit=command.unit,
            observed_at=command.observed_at,
            site=command.site,
            window_start=start,
        )
    ]
    earlier = [book.attestations[a].value for a in window.attestations]
    against = disagreeing(command.value, earlier, rule.tolerance, rule.tolerance_kind)
    if against:
        events.append(
            AttestationConflictFlagged(
                **stamp(command, now),
                metric=rule.name,
                site=command.site,
                window_start=start,
                attestation=attestation_id,
                conflicts_with=tuple(window.attestations[i] for i in against),
            )
        )
    if window.counted is None:
        values = [*earlier, command.value]
        ids = (*window.attestations, attestation_id)
        parties = (*window.parties, signer.party)
        cluster = agreeing_cluster(values, rule.tolerance, rule.tolerance_kind)
        if len(cluster) >= rule.quorum:
            median = cluster[(len(cluster) - 1) // 2]  # the cluster is in ascending order: its low median
            events.append(
                AttestationQuorumReached(
                    **stamp(command, now),
                    metric=rule.name,
                    site=command.site,
                    window_start=start,
                    value=values[median],
                    unit=rule.unit,
                    attestations=tuple(ids[i] for i in cluster),
                    parties=tuple(parties[i] for i in cluster),
                )
            )
            observed = [*(book.attestations[a].observed_at for a in window.attestations), command.observed_at]
            counted = _counted_consumption(rule, values[median], observed[median], ids[median], now)
            if counted is not None:
                events += obligation_rules.meter_attested(state, counted, stamp(command, now))
    return events


def _filing_violations(
    state: TrackState, rule: MetricRule, command: FileAttestation, now: datetime
) -> list[Violation]:
    found: list[Violation] = []
    if command.unit != rule.unit:
        message = f"unit: {command.unit!r} is not the unit of {rule.name}, {rule.unit!r}"
        found.append(Violation("unit", "unit", message))
    if command.observed_at > now + MAX_FUTURE_SKEW:
        found.append(
            Violation(
                "observed_at",
                "future",
                f"observed_at: {time_text(command.observed_at)} is later than the decision time "
                f"{time_text(now)} plus {MAX_FUTURE_SKEW.total_seconds():g} s",
            )
        )
    return found + _amount_violations(state, rule, command.value)


def _metered_obligations(state: TrackState, rule: MetricRule) -> list[str]:
    """The obligations a counted value of ``rule``'s metric meters: same metric and unit, in id order."""
    return sorted(
        o for o, r in state.obligations.items() if r.spec.metric == rule.name and r.spec.unit == rule.unit
    )


def _amount_violations(state: TrackState, rule: MetricRule, value: float) -> list[Violation]:
    metered = _metered_obligations(state, rule)
    if not metered:
        return []
    _, found = quantity_micro(value, "value", positive=False)
    why = f" (a consumption amount: {rule.name} meters obligation {metered[0]})"
    return [Violation(v.field, v.rule, v.message + why) for v in found]


def _counted_consumption(
    rule: MetricRule, value: float, observed_at: datetime, source: str, now: datetime
) -> Consumption | None:
    """A newly counted value as consumption (see the module docstring); ``None`` if not an amount."""
    amount, bad = quantity_micro(value, "value", positive=False)
    if bad:
        return None  # filed before an obligation metered the metric
    return Consumption(rule.name, amount, rule.unit, min(observed_at, now), source)


def attestation_visible(state: TrackState, party: str, event: AttestationEvent) -> bool:
    """True if a member of delegation or inspector ``party`` may see ``event`` (see the module docstring)."""
    if isinstance(event, MetricDefined) or state.parties[party].kind is PartyKind.DELEGATION:
        return True
    if isinstance(event, AttestationFiled):
        return party_of(event.by) == party
    if isinstance(event, AttestationQuorumReached):
        return party in event.parties
    named = (event.attestation, *event.conflicts_with)
    found = (state.attestations.attestations.get(a) for a in named)
    return any(a is not None and a.party == party for a in found)
