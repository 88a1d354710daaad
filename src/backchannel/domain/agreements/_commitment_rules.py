"""Decide commit-reveal's commands and apply its events (called by ``track`` and ``evolve``).

- **Publish**: a principal of a delegation or of the mediator party.
- **Reveal**: a principal of the publishing party; the commitment exists and
  is not revealed yet (:class:`CommitmentStateError`); and
  ``SHA-256(salt || content)`` equals the published hash, else
  :class:`CommitmentMismatchError` and nothing is appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from immutables import Map

from backchannel.domain._event_base import Event
from backchannel.domain._rules import require, stamp
from backchannel.domain.agreements.commitment_commands import PublishCommitment, RevealCommitment
from backchannel.domain.agreements.commitments import (
    CommitmentMismatchError,
    CommitmentPublished,
    CommitmentRecord,
    CommitmentRevealed,
    CommitmentStateError,
    commitment_digest,
)
from backchannel.domain.errors import NotAuthorizedError
from backchannel.domain.ids import PartyKind, Role, party_of
from backchannel.domain.keys import time_text
from backchannel.domain.state import TrackState

__all__ = ["apply", "publish_commitment", "reveal_commitment"]

_PUBLISHERS = (PartyKind.MEDIATOR, PartyKind.DELEGATION)


def publish_commitment(state: TrackState, command: PublishCommitment, now: datetime) -> list[Event]:
    """Decide :class:`PublishCommitment`."""
    require(state, command.member, _PUBLISHERS, (Role.PRINCIPAL,), "publish commitments")
    return [CommitmentPublished(**stamp(command, now), label=command.label, commitment=command.commitment)]


def reveal_commitment(state: TrackState, command: RevealCommitment, now: datetime) -> list[Event]:
    """Decide :class:`RevealCommitment`."""
    signer = require(state, command.member, _PUBLISHERS, (Role.PRINCIPAL,), "reveal commitments")
    record = state.commitment(command.commitment_id)
    if signer.party != record.party:
        raise NotAuthorizedError(
            f"{command.member} may not reveal commitment {record.commitment_id}: "
            f"{record.party} published it, and only a principal of {record.party} may"
        )
    if record.revealed_at is not None:
        raise CommitmentStateError(
            f"commitment {record.commitment_id} was already revealed by {record.revealed_by} "
            f"at {time_text(record.revealed_at)}"
        )
    digest = commitment_digest(command.salt, command.content)
    if digest != record.commitment:
        raise CommitmentMismatchError(
            f"the reveal does not match commitment {record.commitment_id}: SHA-256(salt || content) is "
            f"{digest.hex()}, but the published hash is {record.commitment.hex()}"
        )
    return [
        CommitmentRevealed(
            **stamp(command, now),
            commitment_id=record.commitment_id,
            salt=command.salt,
            content=command.content,
        )
    ]


def apply(
    commitments: Mapping[str, CommitmentRecord], event: CommitmentPublished | CommitmentRevealed
) -> Mapping[str, CommitmentRecord]:
    """Apply one commitment event.

    Raises:
        KeyError: a reveal of an unknown commitment (``evolve`` turns it into a TrackStateError).
    """
    assert isinstance(commitments, Map)  # every state is built by evolve
    if isinstance(event, CommitmentPublished):
        record = CommitmentRecord(
            commitment_id=event.commitment_id,
            party=party_of(event.by),
            by=event.by,
            label=event.label,
            commitment=event.commitment,
            at=event.at,
        )
    else:
        record = replace(
            commitments[event.commitment_id],
            revealed_by=event.by,
            revealed_at=event.at,
            salt=event.salt,
            content=event.content,
        )
    return commitments.set(record.commitment_id, record)
