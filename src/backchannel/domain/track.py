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
(6) the command's own rules (the role matrix and state checks below), which
    its feature registered (:mod:`backchannel.domain.features`).

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

Each command's rules live with its feature; step (6) looks the command up in
the registry (:data:`backchannel.domain.features.REGISTRY`), so a command
class that no feature registers is refused with an ``EncodingError``. The
membership rules are in :mod:`~backchannel.domain.features.membership`,
obligation rules in :mod:`~backchannel.domain.agreements.obligation_rules`.

This module does not verify signatures: the service verifies each command's
signature with the key :meth:`TrackState.signing_key` returns (for
:class:`OpenTrack`, with the ``principal_key`` it carries) before calling
:func:`decide`. It reads no clock and does no I/O.
"""

from __future__ import annotations

from datetime import datetime

from backchannel.domain._event_base import Event
from backchannel.domain.command_envelope import Command
from backchannel.domain.commands import OpenTrack
from backchannel.domain.errors import IdempotencyConflictError, TrackStateError
from backchannel.domain.features import REGISTRY
from backchannel.domain.features.membership import open_track
from backchannel.domain.keys import is_aware
from backchannel.domain.state import TrackState

__all__ = ["decide"]


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
            return open_track(command, now)
        raise TrackStateError(f"track {command.track} is not open")
    if command.track != state.track:
        raise TrackStateError(f"command for track {command.track} sent to track {state.track}")
    state.signing_key(command.member, command.key_id, now)
    if _is_retry(state, command):
        return []
    return REGISTRY.command_rule(type(command)).decide(state, command, now)


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
