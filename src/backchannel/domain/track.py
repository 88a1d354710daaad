"""Decide commands on a track: :func:`decide` (and the party, member and key rules).

``decide(state, command, now)`` validates a signed command against the track's
state and returns the events it causes, or raises a precise
:class:`~backchannel.errors.DomainError`. In order:

(1) ``now`` is timezone-aware (else ``ValueError``: a bug, not a refusal);
(2) before ``track.opened`` only :class:`OpenTrack` is possible;
(3) the command names this track;
(4) ``command.key_id`` is ``command.member``'s and usable at ``now``
    (:meth:`TrackState.signing_key`): a revoked or expired key is refused from
    that instant, whatever the command;
(5) idempotency: the same member, key and digest again returns ``[]`` (the
    first result is :meth:`TrackState.idempotent_result`); the same key with
    another digest raises :class:`IdempotencyConflictError`;
(6) the command's own rules (the role matrix and state checks below, and in
    :mod:`~backchannel.domain._messaging` for the agenda and messages).

Role matrix (``-`` refused with :class:`NotAuthorizedError`):

===================  ==================================================
OpenTrack            its signer becomes the mediator's principal (self-signed)
AdmitParty           mediator principal
EnrollMember         a principal of the new member's own party
RotateKey/RevokeKey  the member itself, or a principal of its party
ProposeAgenda        mediator principal
RatifyAgenda         delegation principal
SubmitMessage        delegation principal or delegate
ForwardMessage       mediator principal or service
ReframeMessage       mediator principal
RecordReceipt        any member but the service, of a recipient party
RecordDeadLetter     service
RecordEscalation     service
DraftDeal            mediator principal (agreements: ``_deal_rules``)
PrepareDeal          mediator principal
VoteDeal             delegation principal, a voter of the deal
ResolveDeal          service
PublishCommitment    delegation or mediator principal (``_commitment_rules``)
RevealCommitment     a principal of the publishing party
DefineMetric         mediator principal (ADR-0017)
FileAttestation      principal or delegate of an inspector party on the metric's panel
OpenEscrow           mediator principal
SignEscrowRelease    principal of a signer party of the escrow
ReleaseEscrow        any member of a party that may see the escrow
ExpireEscrow         service
DraftText/EditText   mediator principal; under the ``shared`` text policy also
                     delegation principals and delegates
SetTextPolicy        mediator principal
CommentText          delegation principal or delegate
DefineObligation     mediator principal
RecordConsumption    inspector principal or delegate, or service
ReviewObligation     service
===================  ==================================================

Obligation rules are in :mod:`~backchannel.domain.agreements.obligation_rules`.

This module does not verify signatures: the service verifies each command's
signature with the key :meth:`TrackState.signing_key` returns (for
:class:`OpenTrack`, with the ``principal_key`` it carries) before calling
:func:`decide`. It reads no clock and does no I/O.
"""

from __future__ import annotations

from datetime import datetime

from backchannel.domain import _messaging
from backchannel.domain._rules import check_new_key, require, require_governor, stamp
from backchannel.domain.agreements import (
    _commitment_rules,
    _deal_rules,
    attestations,
    escrow,
    obligation_rules,
    text,
)
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.commitment_commands import PublishCommitment, RevealCommitment
from backchannel.domain.agreements.deal_commands import DraftDeal, PrepareDeal, ResolveDeal, VoteDeal
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.text_commands import CommentText, DraftText, EditText, SetTextPolicy
from backchannel.domain.commands import (
    AdmitParty,
    Command,
    DefineObligation,
    EnrollMember,
    ForwardMessage,
    OpenTrack,
    ProposeAgenda,
    RatifyAgenda,
    RecordConsumption,
    RecordDeadLetter,
    RecordReceipt,
    ReframeMessage,
    ReviewObligation,
    RevokeKey,
    RotateKey,
    SubmitMessage,
)
from backchannel.domain.errors import (
    IdempotencyConflictError,
    KeyRevokedError,
    NotAuthorizedError,
    TrackStateError,
    UnknownKeyError,
)
from backchannel.domain.events import (
    Event,
    KeyRevoked,
    KeyRotated,
    MemberEnrolled,
    PartyAdmitted,
    TrackOpened,
)
from backchannel.domain.ids import PartyKind, Role, party_of
from backchannel.domain.keys import KeyRecord, is_aware, time_text
from backchannel.domain.state import TrackState

__all__ = ["decide"]

_MEDIATOR = (PartyKind.MEDIATOR,)
_PRINCIPAL = (Role.PRINCIPAL,)


def decide(state: TrackState | None, command: Command, now: datetime) -> list[Event]:
    """Decide a signed command (see the module docstring for the steps).

    Args:
        state: The track's state, or ``None`` if it is not open yet.
        command: The command; its signature was verified by the service.
        now: The decision time (the service's clock).

    Returns:
        The events to append, in order; ``[]`` for an idempotent retry or a
        duplicate receipt.

    Raises:
        DomainError: a precise subclass naming what was refused and why.
        ValueError: ``now`` is naive.
    """
    if not is_aware(now):
        raise ValueError("now must be a timezone-aware datetime")
    if state is None:
        if isinstance(command, OpenTrack):
            return _open_track(command, now)
        raise TrackStateError(f"track {command.track} is not open")
    if command.track != state.track:
        raise TrackStateError(f"command for track {command.track} sent to track {state.track}")
    state.signing_key(command.member, command.key_id, now)
    if _is_retry(state, command):
        return []
    return _dispatch(state, command, now)


def _is_retry(state: TrackState, command: Command) -> bool:
    if command.idempotency_key is None:
        return False
    first = state.idempotent_result(command.member, command.idempotency_key)
    if first is None:
        return False
    if first.command_digest != command.digest:
        raise IdempotencyConflictError(
            f"{command.member} already used idempotency key {command.idempotency_key!r} "
            f"for command {first.command_digest.hex()}"
        )
    return True


def _dispatch(state: TrackState, command: Command, now: datetime) -> list[Event]:  # noqa: C901, PLR0911, PLR0912 - one per command
    match command:
        case OpenTrack():
            raise TrackStateError(f"track {state.track} is already open")
        case AdmitParty():
            return _admit_party(state, command, now)
        case EnrollMember():
            return _enroll_member(state, command, now)
        case RotateKey():
            return _rotate_key(state, command, now)
        case RevokeKey():
            return _revoke_key(state, command, now)
        case ProposeAgenda():
            return _messaging.propose_agenda(state, command, now)
        case RatifyAgenda():
            return _messaging.ratify_agenda(state, command, now)
        case SubmitMessage():
            return _messaging.submit_message(state, command, now)
        case ForwardMessage():
            return _messaging.forward_message(state, command, now)
        case ReframeMessage():
            return _messaging.reframe_message(state, command, now)
        case RecordReceipt():
            return _messaging.record_receipt(state, command, now)
        case RecordDeadLetter():
            return _messaging.record_dead_letter(state, command, now)
        case DraftDeal():
            return _deal_rules.draft_deal(state, command, now)
        case PrepareDeal():
            return _deal_rules.prepare_deal(state, command, now)
        case VoteDeal():
            return _deal_rules.vote_deal(state, command, now)
        case ResolveDeal():
            return _deal_rules.resolve_deal(state, command, now)
        case PublishCommitment():
            return _commitment_rules.publish_commitment(state, command, now)
        case RevealCommitment():
            return _commitment_rules.reveal_commitment(state, command, now)
        case DefineMetric():
            return list(attestations.define_metric(state, command, now))
        case FileAttestation():
            return list(attestations.file_attestation(state, command, now))
        case OpenEscrow():
            return list(escrow.open_escrow(state, command, now))
        case SignEscrowRelease():
            return list(escrow.sign_escrow_release(state, command, now))
        case ReleaseEscrow():
            return list(escrow.release_escrow(state, command, now))
        case ExpireEscrow():
            return list(escrow.expire_escrow(state, command, now))
        case DraftText() | EditText() | SetTextPolicy() | CommentText():
            return list(text.decide_text(state, command, now))
        case DefineObligation():
            return obligation_rules.define_obligation(state, command, now)
        case RecordConsumption():
            return obligation_rules.record_consumption(state, command, now)
        case ReviewObligation():
            return obligation_rules.review_obligation(state, command, now)
        case _:  # RecordEscalation, the last command type
            return _messaging.record_escalation(state, command, now)


def _open_track(command: OpenTrack, now: datetime) -> list[Event]:
    if command.key_id != command.principal_key.key_id:
        raise NotAuthorizedError(
            f"OpenTrack must be signed by the principal key it enrols, not {command.key_id}"
        )
    if command.service_key.key_id == command.principal_key.key_id:
        raise TrackStateError("the principal and the service need distinct keys")
    check_new_key(None, command.principal_key, now)
    check_new_key(None, command.service_key, now)
    return [
        TrackOpened(
            **stamp(command, now),
            track=command.track,
            title=command.title,
            principal_key=command.principal_key,
            service_key=command.service_key,
        )
    ]


def _admit_party(state: TrackState, command: AdmitParty, now: datetime) -> list[Event]:
    require(state, command.member, _MEDIATOR, _PRINCIPAL, "admit parties")
    if command.party in state.parties:
        raise TrackStateError(f"party {command.party} is already part of track {state.track}")
    check_new_key(state, command.principal_key, now)
    return [
        PartyAdmitted(
            **stamp(command, now),
            party=command.party,
            kind=command.kind,
            principal=command.principal,
            principal_key=command.principal_key,
        )
    ]


def _enroll_member(state: TrackState, command: EnrollMember, now: datetime) -> list[Event]:
    party = state.party(party_of(command.new_member)).party
    signer = state.member(command.member)
    if signer.party != party or signer.role is not Role.PRINCIPAL:
        raise NotAuthorizedError(
            f"{command.member} may not enrol {command.new_member}: only a principal of {party} may"
        )
    if command.new_member in state.members:
        raise TrackStateError(f"{command.new_member} is already enrolled")
    check_new_key(state, command.new_key, now)
    return [
        MemberEnrolled(
            **stamp(command, now), member=command.new_member, role=command.role, key=command.new_key
        )
    ]


def _rotate_key(state: TrackState, command: RotateKey, now: datetime) -> list[Event]:
    subject = state.member(command.subject)
    require_governor(state, command.member, subject, "rotate keys")
    _live_key(subject.member, state, command.old_key_id)
    check_new_key(state, command.new_key, now)
    return [
        KeyRotated(
            **stamp(command, now), member=subject.member, old_key_id=command.old_key_id, key=command.new_key
        )
    ]


def _revoke_key(state: TrackState, command: RevokeKey, now: datetime) -> list[Event]:
    subject = state.member(command.subject)
    require_governor(state, command.member, subject, "revoke keys")
    key = _live_key(subject.member, state, command.revoked_key_id)
    if subject.role is Role.PRINCIPAL and key.usable_at(now):
        others = [k for k in state.usable_principal_keys(subject.party, now) if k.key_id != key.key_id]
        if not others:
            raise TrackStateError(
                f"{key.key_id} is the last usable principal key of {subject.party}: enrol or rotate first"
            )
    return [KeyRevoked(**stamp(command, now), member=subject.member, key_id=key.key_id)]


def _live_key(member: str, state: TrackState, key_id: str) -> KeyRecord:
    key = state.member(member).key(key_id)
    if key is None:
        raise UnknownKeyError(f"{member} holds no key {key_id}")
    if key.revoked_at is not None:
        raise KeyRevokedError(
            f"key {key_id} was already revoked at {time_text(key.revoked_at)}",
            key_id=key_id,
            when=key.revoked_at,
        )
    return key
