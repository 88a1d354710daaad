"""The state of one track, and the queries the service asks of it.

A :class:`TrackState` is immutable: :func:`~backchannel.domain.evolve.evolve`
returns a new one per event and :func:`~backchannel.domain.evolve.fold` builds
one from a whole log. Its queries answer:

- which key may sign for a member right now (:meth:`TrackState.signing_key`);
- who is in the track (:meth:`~TrackState.party`, :meth:`~TrackState.member`,
  :meth:`~TrackState.members_of`);
- where the agenda stands (:meth:`~TrackState.agenda_status`);
- what a party still has to acknowledge (:meth:`~TrackState.pending_for`);
- where a track event sits in the log (:meth:`~TrackState.log_index`);
- what an idempotent command produced (:meth:`~TrackState.idempotent_result`).

This module does not apply events (see :mod:`~backchannel.domain.evolve`),
decide commands (see :mod:`~backchannel.domain.track`) or read a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from immutables import Map

from backchannel.domain.agreements.attestation_book import EMPTY_ATTESTATIONS, AttestationBook
from backchannel.domain.agreements.commitments import CommitmentRecord, UnknownCommitmentError
from backchannel.domain.agreements.deals import DealRecord, UnknownDealError
from backchannel.domain.agreements.escrow_book import EMPTY_ESCROWS, EscrowBook
from backchannel.domain.agreements.obligations import ObligationRecord
from backchannel.domain.agreements.text_model import EMPTY_TEXTS, Texts
from backchannel.domain.coordination.book import EMPTY_COORDINATION, CoordinationBook
from backchannel.domain.errors import (
    NotAuthorizedError,
    UnknownKeyError,
    UnknownMemberError,
    UnknownMessageError,
    UnknownPartyError,
)
from backchannel.domain.forecasting import EMPTY_FORECASTS, ForecastBook
from backchannel.domain.ids import PartyKind, Role, service_member
from backchannel.domain.keys import KeyRecord
from backchannel.domain.records import (
    AgendaRecord,
    AgendaStatus,
    IdempotentResult,
    MemberRecord,
    MessageRecord,
    PartyRecord,
    PendingMessage,
)

__all__ = ["TrackState"]


@dataclass(frozen=True, slots=True)
class TrackState:
    """Everything the track's events established.

    Attributes:
        track: The track id.
        title: Its title.
        mediator: The mediator party.
        opened_at: When it was opened.
        parties: Party id -> record, in admission order.
        members: Member id -> record, in enrolment order.
        key_owners: Key id -> the member it was enrolled for (forever: a key
            id is never given twice, even after revocation).
        agenda: The current agenda version, or ``None`` before the first.
        messages: Message id -> record (a persistent map: no order; sort by log order).
        idempotency: (member, idempotency key) -> what the first command produced.
        version: How many events were applied.
        log_offset: The log index of ``track.opened``, fixed when the track is
            opened: the entries before it are the service's key registration at
            genesis (ADR-0011), and every later entry is a track event, so track
            event number ``n`` is log entry ``n + log_offset``.
        deals: Deal id -> record (a persistent map; issue #4).
        commitments: Commitment id -> record (a persistent map; issue #4).
        attestations: Metrics, attestations and counted values (issue #4, ADR-0017).
        escrows: Escrows and their signatures (issue #4, ADR-0017).
        texts: The negotiating texts and their policy (:mod:`backchannel.domain.agreements.text`).
        obligations: Obligation id -> record (a persistent map; ADR-0018).
        forecasts: Declared actor positions and recorded forecasts (ADR-0045).
        coordination: The coordination log's dependencies, calendars and deadlocks (ADR-0027).
    """

    track: str
    title: str
    mediator: str
    opened_at: datetime
    parties: Mapping[str, PartyRecord]
    members: Mapping[str, MemberRecord]
    key_owners: Mapping[str, str]
    agenda: AgendaRecord | None
    messages: Mapping[str, MessageRecord]
    idempotency: Mapping[tuple[str, str], IdempotentResult]
    version: int
    log_offset: int
    deals: Mapping[str, DealRecord] = field(default_factory=Map)
    commitments: Mapping[str, CommitmentRecord] = field(default_factory=Map)
    attestations: AttestationBook = EMPTY_ATTESTATIONS
    escrows: EscrowBook = EMPTY_ESCROWS
    texts: Texts = EMPTY_TEXTS
    obligations: Mapping[str, ObligationRecord] = field(default_factory=Map)
    forecasts: ForecastBook = EMPTY_FORECASTS
    coordination: CoordinationBook = EMPTY_COORDINATION

    def log_index(self, sequence: int) -> int:
        """The log index of track event number ``sequence`` (see :attr:`log_offset`)."""
        return sequence + self.log_offset

    @property
    def service_member(self) -> str:
        """The mediator's service node, ``<mediator>/service``."""
        return service_member(self.mediator)

    def party(self, party: str) -> PartyRecord:
        """The party of that id.

        Raises:
            UnknownPartyError: no such party.
        """
        record = self.parties.get(party)
        if record is None:
            raise UnknownPartyError(f"party {party!r} is not part of track {self.track}")
        return record

    def member(self, member: str) -> MemberRecord:
        """The member of that id.

        Raises:
            UnknownMemberError: no such member.
        """
        record = self.members.get(member)
        if record is None:
            raise UnknownMemberError(f"member {member!r} is not enrolled in track {self.track}")
        return record

    def members_of(self, party: str, role: Role | None = None) -> tuple[MemberRecord, ...]:
        """The members of ``party`` (with ``role``, if given), in enrolment order."""
        return tuple(
            m for m in self.members.values() if m.party == party and (role is None or m.role is role)
        )

    def signing_key(self, member: str, key_id: str, now: datetime) -> KeyRecord:
        """The key ``member`` may sign with at ``now`` under ``key_id``.

        The service verifies a command's signature with this key's
        ``ed25519`` bytes; :func:`~backchannel.domain.track.decide` calls this
        first, so a key is refused from the instant of its revocation or expiry.

        Raises:
            UnknownMemberError: the member is not enrolled.
            UnknownKeyError: no member was ever enrolled with that key id.
            NotAuthorizedError: the key id belongs to another member.
            KeyRevokedError: the key was revoked at or before ``now`` (named, with the time).
            KeyExpiredError: the key expired at or before ``now`` (named, with the time).
        """
        record = self.member(member)
        owner = self.key_owners.get(key_id)
        if owner is None:
            raise UnknownKeyError(f"no key {key_id} is enrolled in track {self.track}")
        if owner != member:
            raise NotAuthorizedError(f"key {key_id} belongs to {owner}, not to {member}")
        key = record.key(key_id)
        assert key is not None  # key_owners and members are built together
        key.verify_usable(now)
        return key

    def usable_principal_keys(self, party: str, now: datetime) -> tuple[KeyRecord, ...]:
        """Every key of ``party``'s principals that may sign at ``now``."""
        return tuple(k for m in self.members_of(party, Role.PRINCIPAL) for k in m.usable_keys(now))

    def ratifiers(self) -> tuple[str, ...]:
        """The principals who must ratify the agenda, sorted.

        Every principal of every delegation that still holds a key never
        revoked (an expired key still counts: its principal can be rotated).
        """
        return tuple(
            sorted(
                m.member
                for m in self.members.values()
                if m.role is Role.PRINCIPAL
                and self.parties[m.party].kind is PartyKind.DELEGATION
                and m.active
            )
        )

    def agenda_status(self) -> AgendaStatus | None:
        """Where ratification of the current agenda stands, or ``None`` before the first agenda."""
        if self.agenda is None:
            return None
        required = self.ratifiers()
        done = tuple(sorted(self.agenda.ratified_by))
        missing = tuple(m for m in required if m not in self.agenda.ratified_by)
        return AgendaStatus(self.agenda.version, self.agenda.digest, done, missing)

    def message(self, message_id: str) -> MessageRecord:
        """The message of that id.

        Raises:
            UnknownMessageError: no such message.
        """
        record = self.messages.get(message_id)
        if record is None:
            raise UnknownMessageError(f"no message {message_id} in track {self.track}")
        return record

    def was_reframed(self, message_id: str) -> bool:
        """True if the mediator reframed message ``message_id`` (a reframing cites it)."""
        return any(m.reframes == message_id for m in self.messages.values())

    def awaiting_relay(self) -> tuple[MessageRecord, ...]:
        """Submissions waiting in the mediator's queue, in no order.

        A message waits there until the mediator forwards or reframes it, or the
        queue gives it up (:attr:`MessageRecord.unrelayed`); the mediator's own
        messages never wait there.
        """
        reframed = {m.reframes for m in self.messages.values() if m.reframes is not None}
        return tuple(
            m
            for m in self.messages.values()
            if m.party != self.mediator
            and not m.deliveries
            and m.unrelayed is None
            and m.message_id not in reframed
        )

    def pending_for(self, party: str) -> tuple[PendingMessage, ...]:
        """Messages delivered to ``party`` and neither settled nor dead-lettered.

        Returns:
            Flash before priority before routine, then in log order.
        """
        pending = [
            PendingMessage(m, d)
            for m in self.messages.values()
            if (d := m.deliveries.get(party)) is not None and d.pending
        ]
        return tuple(sorted(pending, key=lambda p: p.order))

    def deal(self, deal_id: str) -> DealRecord:
        """The deal of that id.

        Raises:
            UnknownDealError: no such deal.
        """
        record = self.deals.get(deal_id)
        if record is None:
            raise UnknownDealError(f"no deal {deal_id!r} on track {self.track}")
        return record

    def commitment(self, commitment_id: str) -> CommitmentRecord:
        """The commitment of that id.

        Raises:
            UnknownCommitmentError: no such commitment.
        """
        record = self.commitments.get(commitment_id)
        if record is None:
            raise UnknownCommitmentError(f"no commitment {commitment_id} on track {self.track}")
        return record

    def idempotent_result(self, member: str, key: str) -> IdempotentResult | None:
        """What ``member``'s first command with idempotency key ``key`` produced, if any."""
        return self.idempotency.get((member, key))
