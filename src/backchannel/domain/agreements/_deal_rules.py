"""Decide the two-phase commit's commands and apply its events (called by ``track`` and ``evolve``).

Rules, beyond the role matrix in :mod:`~backchannel.domain.agreements.deal_commands`:

- **Terms** (draft and prepare): every step's party is a delegation of the
  track; a step that names an agenda issue needs a ratified agenda holding
  it, the issue's unit (``None`` for issues without one) and a value the
  agenda's own check accepts; ``deal:`` and ``commitment:`` references name a
  deal or commitment of the track. Every violation is listed at once
  (:class:`~backchannel.domain.errors.SchemaViolationError`); nothing is appended.
- **Draft**: a deal id is drafted again (a revision) only while it is a draft.
- **Prepare**: the deal is new or a draft; the deadline is after now; the
  voters are every delegation principal holding a key never revoked
  (:meth:`TrackState.ratifiers`), fixed in the ``deal.prepared`` event.
- **Vote**, checked in this order:

  1. the deal exists and is not a draft;
  2. the signer is one of its voters;
  3. the signer's earlier ballot, if any: the same vote on the same hash is a
     no-op (``[]``, like a duplicate receipt, even once the deal is final or
     the deadline passed); any other is refused (a vote never changes);
  4. the deal is still preparing (a committed or aborted deal is final);
  5. ``now`` is before the deadline (else :class:`DealDeadlineError`: the
     tick resolves the deal);
  6. the ballot is recorded (``deal.voted``, with the hash the voter signed),
     then in the same decision, so in one atomic append:

     - a hash other than the deal's aborts it, reason ``hash_mismatch``: the
       voter prepared something else, so the deal cannot commit; the detail
       names both hashes (a NO on another hash is a mismatch too);
     - a NO aborts it, reason ``vote_no``;
     - the last missing YES commits it (``deal.committed``).

- **Resolve** (the service, at the deadline): only a preparing deal whose
  deadline is at or before now; the votes missing abort it, reason
  ``deadline``. (A preparing deal always misses a vote: the last YES commits.)

Every abort lists each step of the deal as a void compensation: nothing a deal
grants takes effect before it commits, so the prior state stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from immutables import Map

from backchannel.domain._event_base import Event
from backchannel.domain._rules import require, stamp
from backchannel.domain.agenda import Agenda, NumberIssue
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
    Ballot,
    Compensation,
    Deal,
    DealDeadlineError,
    DealOutcome,
    DealRecord,
    DealStateError,
    DealStatus,
    Reference,
    Step,
    Vote,
)
from backchannel.domain.errors import (
    AgendaNotRatifiedError,
    NotAuthorizedError,
    SchemaViolationError,
    Violation,
)
from backchannel.domain.ids import PartyKind, Role
from backchannel.domain.keys import time_text
from backchannel.domain.state import TrackState

__all__ = ["DealEvent", "apply", "draft_deal", "prepare_deal", "resolve_deal", "vote_deal"]

DealEvent = DealDrafted | DealPrepared | DealVoted | DealCommitted | DealAborted
"""The events this module applies."""

_MEDIATOR = (PartyKind.MEDIATOR,)
_DELEGATION = (PartyKind.DELEGATION,)


def draft_deal(state: TrackState, command: DraftDeal, now: datetime) -> list[Event]:
    """Decide :class:`DraftDeal`."""
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL,), "draft deals")
    _fresh_or_draft(state, command.deal.id)
    version = _check_terms(state, command.deal)
    return [
        DealDrafted(
            **stamp(command, now), deal=command.deal, deal_hash=command.deal_hash, agenda_version=version
        )
    ]


def prepare_deal(state: TrackState, command: PrepareDeal, now: datetime) -> list[Event]:
    """Decide :class:`PrepareDeal`."""
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL,), "prepare deals")
    _fresh_or_draft(state, command.deal.id)
    if command.deadline <= now:
        raise DealDeadlineError(
            f"deal {command.deal.id}: the prepare deadline {time_text(command.deadline)} "
            f"is not after now ({time_text(now)})"
        )
    version = _check_terms(state, command.deal)
    voters = state.ratifiers()
    if not voters:
        raise DealStateError(f"deal {command.deal.id}: the track has no delegation principal to vote")
    return [
        DealPrepared(
            **stamp(command, now),
            deal=command.deal,
            deal_hash=command.deal_hash,
            agenda_version=version,
            deadline=command.deadline,
            voters=voters,
        )
    ]


def vote_deal(state: TrackState, command: VoteDeal, now: datetime) -> list[Event]:
    """Decide :class:`VoteDeal` (see the module docstring for the order of the checks)."""
    require(state, command.member, _DELEGATION, (Role.PRINCIPAL,), "vote on deals")
    record = state.deal(command.deal_id)
    if record.status is DealStatus.DRAFTED:
        raise DealStateError(f"deal {record.deal_id} is a draft: votes open when it is prepared")
    if command.member not in record.voters:
        raise NotAuthorizedError(
            f"{command.member} is not a voter of deal {record.deal_id} (voters: {', '.join(record.voters)})"
        )
    ballot = record.ballots.get(command.member)
    if ballot is not None:
        if ballot.vote is command.vote and ballot.deal_hash == command.deal_hash:
            return []
        raise DealStateError(
            f"{command.member} already voted {ballot.vote.upper()} on deal {record.deal_id} "
            f"(hash {ballot.deal_hash.hex()}) at {time_text(ballot.at)}: a vote cannot change"
        )
    if record.status.final:
        raise DealStateError(f"deal {record.deal_id} is already {record.status}: it is final")
    assert record.deadline is not None  # a preparing deal has one
    if now >= record.deadline:
        raise DealDeadlineError(
            f"vote on deal {record.deal_id} at {time_text(now)}: "
            f"the prepare deadline {time_text(record.deadline)} has passed"
        )
    voted = DealVoted(
        **stamp(command, now), deal_id=record.deal_id, deal_hash=command.deal_hash, vote=command.vote
    )
    missing = tuple(m for m in record.missing if m != command.member)
    if command.deal_hash != record.deal_hash:
        detail = (
            f"{command.member} signed hash {command.deal_hash.hex()}, "
            f"but deal {record.deal_id} has hash {record.deal_hash.hex()}"
        )
        return [
            voted,
            _aborted(command, now, record, reason=AbortReason.HASH_MISMATCH, detail=detail, missing=missing),
        ]
    if command.vote is Vote.NO:
        detail = f"{command.member} voted NO on deal {record.deal_id}"
        return [
            voted,
            _aborted(command, now, record, reason=AbortReason.VOTE_NO, detail=detail, missing=missing),
        ]
    if missing:
        return [voted]
    committed = DealCommitted(
        **stamp(command, now), deal_id=record.deal_id, deal_hash=record.deal_hash, voters=record.voters
    )
    return [voted, committed]


def resolve_deal(state: TrackState, command: ResolveDeal, now: datetime) -> list[Event]:
    """Decide :class:`ResolveDeal`: abort a preparing deal whose deadline passed with votes missing."""
    require(state, command.member, _MEDIATOR, (Role.SERVICE,), "resolve deals")
    record = state.deal(command.deal_id)
    if record.status is not DealStatus.PREPARING:
        raise DealStateError(f"deal {record.deal_id} is {record.status}: only a preparing deal is resolved")
    assert record.deadline is not None  # a preparing deal has one
    if now < record.deadline:
        raise DealDeadlineError(
            f"deal {record.deal_id}: its prepare deadline {time_text(record.deadline)} "
            f"is not reached at {time_text(now)}"
        )
    missing = record.missing
    detail = (
        f"the prepare deadline {time_text(record.deadline)} of deal {record.deal_id} "
        f"passed without the votes of {', '.join(missing)}"
    )
    return [_aborted(command, now, record, reason=AbortReason.DEADLINE, detail=detail, missing=missing)]


def _aborted(  # noqa: PLR0913 - the abort's parts, by name
    command: VoteDeal | ResolveDeal,
    now: datetime,
    record: DealRecord,
    *,
    reason: AbortReason,
    detail: str,
    missing: tuple[str, ...],
) -> DealAborted:
    return DealAborted(
        **stamp(command, now),
        deal_id=record.deal_id,
        deal_hash=record.deal_hash,
        reason=reason,
        detail=detail,
        missing=missing,
        compensations=Compensation.of(record.deal),
    )


def _fresh_or_draft(state: TrackState, deal_id: str) -> None:
    existing = state.deals.get(deal_id)
    if existing is not None and existing.status is not DealStatus.DRAFTED:
        raise DealStateError(f"deal {deal_id} is already {existing.status}: a deal id is used once")


def _check_terms(state: TrackState, deal: Deal) -> int | None:
    """Check the deal's parties, issues and references against the track; the agenda version used."""
    agenda = _agenda(state, deal)
    found: list[Violation] = []
    for phase, number, step in deal.steps():
        where = f"phases.{phase - 1}.{number - 1}"
        record = state.parties.get(step.party)
        if record is None:
            found.append(
                _v(f"{where}.party", "unknown_party", f"party {step.party!r} is not part of the track")
            )
        elif record.kind is not PartyKind.DELEGATION:
            found.append(
                _v(f"{where}.party", "delegation", f"{step.party} is a {record.kind} party, not a delegation")
            )
        if agenda is not None and step.issue is not None:
            found += _fits(agenda, step, where)
        for index, condition in enumerate(step.conditions):
            if isinstance(condition, Reference):
                found += _resolves(state, condition, f"{where}.conditions.{index}")
    if found:
        raise SchemaViolationError(found)
    return None if agenda is None else agenda.version


def _agenda(state: TrackState, deal: Deal) -> Agenda | None:
    """The ratified agenda, if any step names an issue (else ``None``)."""
    named = sorted({step.issue for _, _, step in deal.steps() if step.issue is not None})
    if not named:
        return None
    status = state.agenda_status()
    if status is None or state.agenda is None:
        raise AgendaNotRatifiedError(
            f"deal {deal.id} names agenda issues ({', '.join(named)}), but no agenda has been proposed"
        )
    if not status.ratified:  # e.g. a principal enrolled after ratification must ratify too (issue #8)
        missing = ", ".join(status.missing) or "no delegation principal yet"
        version = state.agenda.version
        raise AgendaNotRatifiedError(
            f"deal {deal.id} names agenda issues ({', '.join(named)}), but agenda version {version} "
            f"is not ratified: still to ratify version {version}: {missing}"
        )
    return state.agenda.agenda


def _fits(agenda: Agenda, step: Step, where: str) -> list[Violation]:
    """The step's quantity against its issue: the issue exists, its unit, and the agenda's own value check."""
    issue = agenda.issue(str(step.issue))
    if issue is None:
        return [
            _v(f"{where}.issue", "unknown_issue", f"{step.issue!r} is not on agenda version {agenda.version}")
        ]
    found: list[Violation] = []
    unit = step.quantity.unit
    if isinstance(issue, NumberIssue):
        if unit != issue.unit:
            found.append(
                _v(
                    f"{where}.quantity.unit",
                    "unit",
                    f"{unit!r} does not match the agenda's {issue.unit!r} for {issue.name}",
                )
            )
    elif unit is not None:
        found.append(
            _v(
                f"{where}.quantity.unit",
                "unit",
                f"{issue.name} is a {issue.kind} issue: it has no unit (null)",
            )
        )
    found += [
        Violation(f"{where}.quantity.value", v.rule, f"{where}.quantity.value: {v.message}")
        for v in issue.check(step.quantity.value)
    ]
    return found


def _resolves(state: TrackState, ref: Reference, where: str) -> list[Violation]:
    """A ``deal:`` or ``commitment:`` reference names one of the track's (the deal checks ``step:`` ones)."""
    if ref.kind == "deal" and ref.target not in state.deals:
        return [_v(where, "unknown_deal", f"no deal {ref.target!r} on the track")]
    if ref.kind == "commitment" and ref.target not in state.commitments:
        return [_v(where, "unknown_commitment", f"no commitment {ref.target} on the track")]
    return []


def _v(field: str, rule: str, message: str) -> Violation:
    return Violation(field, rule, f"{field}: {message}")


def apply(deals: Mapping[str, DealRecord], event: DealEvent, sequence: int) -> Mapping[str, DealRecord]:
    """Apply one deal event to the track's deals (``sequence``: the event's track event number).

    Raises:
        KeyError: the event names an unknown deal (``evolve`` turns it into a TrackStateError).
    """
    assert isinstance(deals, Map)  # every state is built by evolve
    match event:
        case DealDrafted():
            previous = deals.get(event.deal.id)
            record = DealRecord(
                deal=event.deal,
                deal_hash=event.deal_hash,
                status=DealStatus.DRAFTED,
                revision=1 if previous is None else previous.revision + 1,
                by=event.by,
                agenda_version=event.agenda_version,
                deadline=None,
                voters=(),
                ballots=MappingProxyType({}),
                outcome=None,
                sequence=sequence,
            )
        case DealPrepared():
            previous = deals.get(event.deal.id)
            changed = previous is None or previous.deal_hash != event.deal_hash
            record = DealRecord(
                deal=event.deal,
                deal_hash=event.deal_hash,
                status=DealStatus.PREPARING,
                revision=1 if previous is None else previous.revision + int(changed),
                by=event.by,
                agenda_version=event.agenda_version,
                deadline=event.deadline,
                voters=event.voters,
                ballots=MappingProxyType({}),
                outcome=None,
                sequence=sequence,
            )
        case DealVoted():
            previous = deals[event.deal_id]
            ballot = Ballot(event.vote, event.deal_hash, event.at)
            record = replace(previous, ballots=MappingProxyType({**previous.ballots, event.by: ballot}))
        case DealCommitted():
            outcome = DealOutcome(DealStatus.COMMITTED, event.at)
            record = replace(deals[event.deal_id], status=DealStatus.COMMITTED, outcome=outcome)
        case _:  # DealAborted, the last deal event
            outcome = DealOutcome(
                DealStatus.ABORTED, event.at, event.reason, event.detail, event.missing, event.compensations
            )
            record = replace(deals[event.deal_id], status=DealStatus.ABORTED, outcome=outcome)
    return deals.set(record.deal_id, record)
