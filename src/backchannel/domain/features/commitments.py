"""The commitments feature (issue #4): publish a salted hash now, reveal its content later.

Decisions and the fold are in :mod:`~backchannel.domain.agreements._commitment_rules`.
Commitment events are seen by the mediator and every delegation, by no
inspector or witness. This module only declares the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.agreements import _commitment_rules
from backchannel.domain.agreements.commitment_commands import PublishCommitment, RevealCommitment
from backchannel.domain.agreements.commitments import CommitmentPublished, CommitmentRevealed
from backchannel.domain.registry import Feature, command, delegations_see, event

__all__ = ["COMMITMENTS"]


def _apply(draft: Draft, event: CommitmentPublished | CommitmentRevealed) -> None:
    draft.commitments = _commitment_rules.apply(draft.commitments, event)


COMMITMENTS = Feature(
    "commitments",
    commands=(
        command(PublishCommitment, "publish_commitment", _commitment_rules.publish_commitment),
        command(RevealCommitment, "reveal_commitment", _commitment_rules.reveal_commitment),
    ),
    events=(
        event(CommitmentPublished, _apply, delegations_see),
        event(CommitmentRevealed, _apply, delegations_see),
    ),
)
"""Commitments (issue #4)."""
