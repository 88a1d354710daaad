"""Apply events to a track's state: :func:`evolve` (one event) and :func:`fold` (a whole log).

Both share one mutable, private builder (``_Draft``) that copies a state's
collections only when an event changes them, so :func:`evolve` costs one copy
of the collections it touches and :func:`fold` is linear in the number of
events. The result is always a new immutable
:class:`~backchannel.domain.state.TrackState`; the input is never changed.

Events are trusted: they are what :func:`~backchannel.domain.track.decide`
emitted. ``evolve`` refuses only what cannot be applied at all (an event
before ``track.opened``, a second ``track.opened``, a reference to an unknown
party, member, key or message) with
:class:`~backchannel.domain.errors.TrackStateError`. It re-checks no rule;
replaying commands through ``decide`` is how a verifier re-checks them.

This module does not decide commands or read a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from immutables import Map, MapMutation

from backchannel.domain.agreements import _commitment_rules, _deal_rules, obligation_rules, text
from backchannel.domain.agreements.attestation_book import ATTESTATION_EVENTS
from backchannel.domain.agreements.commitments import CommitmentPublished, CommitmentRevealed
from backchannel.domain.agreements.deals import (
    DealAborted,
    DealCommitted,
    DealDrafted,
    DealPrepared,
    DealVoted,
)
from backchannel.domain.agreements.escrow_book import ESCROW_EVENTS
from backchannel.domain.agreements.obligation_events import ObligationEvent
from backchannel.domain.agreements.obligations import ObligationRecord
from backchannel.domain.agreements.text_events import TextCommented, TextDrafted, TextEdited, TextPolicySet
from backchannel.domain.errors import TrackStateError
from backchannel.domain.events import (
    AgendaProposed,
    AgendaRatified,
    Event,
    KeyRevoked,
    KeyRotated,
    MemberEnrolled,
    MessageDeadLettered,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    PartyAdmitted,
    ReceiptRecorded,
    TrackOpened,
)
from backchannel.domain.ids import PartyKind, Role, Route, party_of, service_member
from backchannel.domain.keys import NewKey
from backchannel.domain.records import (
    AgendaRecord,
    DeadLetter,
    Delivery,
    IdempotentResult,
    MemberRecord,
    MessageRecord,
    PartyRecord,
    Settlement,
)
from backchannel.domain.state import TrackState

__all__ = ["evolve", "fold"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_EMPTY_TIMES: Mapping[str, datetime] = MappingProxyType({})


def evolve(state: TrackState | None, event: Event, *, log_offset: int | None = None) -> TrackState:
    """Apply one event.

    Args:
        state: The state so far; ``None`` before ``track.opened``.
        event: The next event.
        log_offset: The log index of ``track.opened`` (default 0), read when
            ``state`` is ``None``; the state keeps it
            (:attr:`TrackState.log_offset`). With a state, it may only repeat
            the state's own.

    Returns:
        A new state (``state`` is unchanged).

    Raises:
        TrackStateError: the event cannot be applied (see the module docstring).
        ValueError: ``log_offset`` is negative, or differs from the state's (a bug).
    """
    draft = _Draft(_start(state, event, log_offset))
    draft.apply(event)
    return draft.freeze()


def fold(events: Iterable[Event], *, log_offset: int = 0) -> TrackState:
    """Build a track's state from all its events, in log order.

    Args:
        events: Every event of the track, ``track.opened`` first.
        log_offset: The log index of ``track.opened`` (see :func:`evolve`).

    Raises:
        TrackStateError: no events, or one that cannot be applied.
        ValueError: ``log_offset`` is negative.
    """
    iterator = iter(events)
    first = next(iterator, None)
    if first is None:
        raise TrackStateError("no events to fold: a track starts with track.opened")
    draft = _Draft(_start(None, first, log_offset))
    draft.apply(first)
    for event in iterator:
        draft.apply(event)
    return draft.freeze()


def _start(state: TrackState | None, event: Event, log_offset: int | None) -> TrackState:
    if log_offset is not None and log_offset < 0:
        raise ValueError(f"log_offset must be >= 0, got {log_offset}")
    if state is not None:
        if log_offset is not None and log_offset != state.log_offset:
            raise ValueError(
                f"log_offset {log_offset} given for a track whose log_offset is {state.log_offset}"
            )
        return state
    if not isinstance(event, TrackOpened):
        raise TrackStateError(f"{event.type} before track.opened")
    return TrackState(
        track=event.track,
        title=event.title,
        mediator=event.mediator,
        opened_at=event.at,
        parties=MappingProxyType({}),
        members=MappingProxyType({}),
        key_owners=_EMPTY,
        agenda=None,
        messages=Map(),
        idempotency=Map(),
        version=0,
        log_offset=log_offset or 0,
    )


class _Draft:
    """A state under construction; copies each collection of ``base`` on first write."""

    def __init__(self, base: TrackState) -> None:
        self.base = base
        self.agenda = base.agenda
        self.version = base.version
        self.deals = base.deals  # persistent maps (issue #4): each event sets one key
        self.commitments = base.commitments
        self.attestations = base.attestations
        self.escrows = base.escrows
        self.texts = base.texts
        self._parties: dict[str, PartyRecord] | None = None
        self._members: dict[str, MemberRecord] | None = None
        self._key_owners: dict[str, str] | None = None
        self._messages: MapMutation[str, MessageRecord] | None = None
        self._idempotency: MapMutation[tuple[str, str], IdempotentResult] | None = None
        self._obligations: MapMutation[str, ObligationRecord] | None = None

    @property
    def parties(self) -> dict[str, PartyRecord]:
        if self._parties is None:
            self._parties = dict(self.base.parties)
        return self._parties

    @property
    def members(self) -> dict[str, MemberRecord]:
        if self._members is None:
            self._members = dict(self.base.members)
        return self._members

    @property
    def key_owners(self) -> dict[str, str]:
        if self._key_owners is None:
            self._key_owners = dict(self.base.key_owners)
        return self._key_owners

    @property
    def messages(self) -> MapMutation[str, MessageRecord]:
        # Persistent (HAMT) like idempotency: a track's messages grow without bound, and
        # every reader either looks one up or sorts (pending_for sorts by log order).
        if self._messages is None:
            base = self.base.messages
            assert isinstance(base, Map)  # every state is built by _start and evolve
            self._messages = base.mutate()
        return self._messages

    @property
    def idempotency(self) -> MapMutation[tuple[str, str], IdempotentResult]:
        # A persistent map (HAMT): O(log n) per command instead of copying every key
        # ever used. Lookups only, so its hash order does not matter.
        if self._idempotency is None:
            base = self.base.idempotency
            assert isinstance(base, Map)  # every state is built by _start and evolve
            self._idempotency = base.mutate()
        return self._idempotency

    @property
    def obligations(self) -> MapMutation[str, ObligationRecord]:
        # Persistent like messages: one obligation changes per metered record.
        if self._obligations is None:
            base = self.base.obligations
            assert isinstance(base, Map)  # every state is built by _start and evolve
            self._obligations = base.mutate()
        return self._obligations

    def freeze(self) -> TrackState:
        """The state built so far (the draft must not be used afterwards)."""
        base = self.base
        return replace(
            base,
            parties=base.parties if self._parties is None else MappingProxyType(self._parties),
            members=base.members if self._members is None else MappingProxyType(self._members),
            key_owners=base.key_owners if self._key_owners is None else MappingProxyType(self._key_owners),
            agenda=self.agenda,
            messages=base.messages if self._messages is None else self._messages.finish(),
            idempotency=base.idempotency if self._idempotency is None else self._idempotency.finish(),
            version=self.version,
            deals=self.deals,
            commitments=self.commitments,
            attestations=self.attestations,
            escrows=self.escrows,
            texts=self.texts,
            obligations=base.obligations if self._obligations is None else self._obligations.finish(),
        )

    def apply(self, event: Event) -> None:
        """Apply one event to the draft.

        Raises:
            TrackStateError: see the module docstring.
        """
        try:
            _apply(self, event)
        except KeyError as e:
            raise TrackStateError(f"{event.type} cannot be applied: unknown {e}") from e
        self.version += 1
        if event.idempotency_key is not None:
            self._remember(event, event.idempotency_key)

    def _remember(self, event: Event, key: str) -> None:
        slot = (event.by, key)
        first = self.idempotency.get(slot)
        if first is not None and first.command_digest == event.command_digest:
            self.idempotency[slot] = replace(first, events=(*first.events, event))
        else:
            self.idempotency[slot] = IdempotentResult(event.command_digest, (event,))

    def add_member(self, member: str, role: Role, key: NewKey, event: Event) -> None:
        """Enrol ``member`` with its first key, as ``event`` did."""
        self.members[member] = MemberRecord(
            member, party_of(member), role, event.at, event.by, (key.enrol(event.at, event.by),)
        )
        self.key_owners[key.key_id] = member

    def set_delivery(self, message_id: str, delivery: Delivery) -> None:
        """Replace one delivery of a message."""
        message = self.messages[message_id]
        deliveries = MappingProxyType({**message.deliveries, delivery.party: delivery})
        self.messages[message_id] = replace(message, deliveries=deliveries)

    def delivery(self, message_id: str, party: str) -> Delivery:
        """One delivery of a message (KeyError if there is none)."""
        return self.messages[message_id].deliveries[party]


def _apply(draft: _Draft, event: Event) -> None:  # noqa: C901, PLR0912 - one branch per event type
    match event:
        case TrackOpened():
            _track_opened(draft, event)
        case PartyAdmitted():
            draft.parties[event.party] = PartyRecord(event.party, event.kind, event.at, event.by)
            draft.add_member(event.principal, Role.PRINCIPAL, event.principal_key, event)
        case MemberEnrolled():
            draft.add_member(event.member, event.role, event.key, event)
        case KeyRotated():
            _key_rotated(draft, event)
        case KeyRevoked():
            _revoke(draft, event.member, event.key_id, event)
        case AgendaProposed():
            draft.agenda = AgendaRecord(event.agenda, event.agenda_digest, event.by, event.at, _EMPTY_TIMES)
        case AgendaRatified():
            _agenda_ratified(draft, event)
        case MessageSubmitted():
            _message_submitted(draft, event)
        case MessageForwarded():
            _deliver(draft, event.message_id, event.to_parties, Route.FORWARDED, event)
        case MessageReframed():
            _message_reframed(draft, event)
        case ReceiptRecorded():
            _receipt_recorded(draft, event)
        case DealDrafted() | DealPrepared() | DealVoted() | DealCommitted() | DealAborted():
            draft.deals = _deal_rules.apply(draft.deals, event, draft.version)
        case CommitmentPublished() | CommitmentRevealed():
            draft.commitments = _commitment_rules.apply(draft.commitments, event)
        case _ if isinstance(event, ATTESTATION_EVENTS):
            draft.attestations = draft.attestations.apply(event)
        case _ if isinstance(event, ESCROW_EVENTS):
            draft.escrows = draft.escrows.apply(event)
        case TextDrafted() | TextEdited() | TextPolicySet() | TextCommented():
            draft.texts = text.apply_text(draft.texts, event)
        case ObligationEvent():
            obligation_rules.apply(draft.obligations, event)
        case MessageDeadLettered():
            dead = DeadLetter(event.at, event.attempts, event.reason)
            if event.party == draft.base.mediator:  # given up in the mediator's own queue
                draft.messages[event.message_id] = replace(draft.messages[event.message_id], unrelayed=dead)
            else:
                draft.set_delivery(
                    event.message_id, replace(draft.delivery(event.message_id, event.party), dead_letter=dead)
                )
        case _:  # MessageEscalated, the last event type
            delivery = draft.delivery(event.message_id, event.party)
            draft.set_delivery(
                event.message_id, replace(delivery, escalation_level=event.level, escalated_to=event.to)
            )


def _track_opened(draft: _Draft, event: TrackOpened) -> None:
    if draft.version:
        raise TrackStateError(f"track {draft.base.track} is already open")
    draft.parties[event.mediator] = PartyRecord(event.mediator, PartyKind.MEDIATOR, event.at, event.by)
    draft.add_member(event.by, Role.PRINCIPAL, event.principal_key, event)
    draft.add_member(service_member(event.mediator), Role.SERVICE, event.service_key, event)


def _revoke(draft: _Draft, member_id: str, key_id: str, event: Event) -> MemberRecord:
    member = draft.members[member_id]
    keys = tuple(replace(k, revoked_at=event.at) if k.key_id == key_id else k for k in member.keys)
    if keys == member.keys:
        raise KeyError(key_id)
    updated = replace(member, keys=keys)
    draft.members[member_id] = updated
    return updated


def _key_rotated(draft: _Draft, event: KeyRotated) -> None:
    member = _revoke(draft, event.member, event.old_key_id, event)
    draft.members[event.member] = replace(member, keys=(*member.keys, event.key.enrol(event.at, event.by)))
    draft.key_owners[event.key.key_id] = event.member


def _agenda_ratified(draft: _Draft, event: AgendaRatified) -> None:
    if draft.agenda is None:
        raise KeyError("agenda")
    ratified = MappingProxyType({**draft.agenda.ratified_by, event.by: event.at})
    draft.agenda = replace(draft.agenda, ratified_by=ratified)


def _message_submitted(draft: _Draft, event: MessageSubmitted) -> None:
    draft.messages[event.message_id] = MessageRecord(
        message_id=event.message_id,
        digest=event.command_digest,
        author=event.by,
        party=party_of(event.by),
        kind=event.kind,
        priority=event.priority,
        body=event.body,
        in_reply_to=event.in_reply_to,
        annexes=event.annexes,
        agenda_version=event.agenda_version,
        reframes=None,
        at=event.at,
        sequence=draft.version,
        deliveries=MappingProxyType({}),
    )


def _message_reframed(draft: _Draft, event: MessageReframed) -> None:
    if event.reframes not in draft.messages:
        raise KeyError(event.reframes)
    draft.messages[event.message_id] = MessageRecord(
        message_id=event.message_id,
        digest=event.command_digest,
        author=event.by,
        party=party_of(event.by),
        kind=event.kind,
        priority=event.priority,
        body=event.body,
        in_reply_to=None,
        annexes=event.annexes,
        agenda_version=event.agenda_version,
        reframes=event.reframes,
        at=event.at,
        sequence=draft.version,
        deliveries=MappingProxyType({}),
    )
    _deliver(draft, event.message_id, event.to_parties, Route.REFRAMED, event)


def _deliver(draft: _Draft, message_id: str, parties: tuple[str, ...], route: Route, event: Event) -> None:
    message = draft.messages[message_id]
    index = draft.base.log_index(draft.version)
    added = {p: Delivery(p, route, event.at, draft.version, index) for p in parties}
    draft.messages[message_id] = replace(
        message, deliveries=MappingProxyType({**message.deliveries, **added})
    )


def _receipt_recorded(draft: _Draft, event: ReceiptRecorded) -> None:
    sequence = draft.version
    settlement = Settlement(
        event.by, event.at, sequence, draft.base.log_index(sequence), event.receipt_digest
    )
    for message_id in event.message_ids:
        delivery = draft.delivery(message_id, event.party)
        if delivery.settled is None:
            draft.set_delivery(message_id, replace(delivery, settled=settlement))
