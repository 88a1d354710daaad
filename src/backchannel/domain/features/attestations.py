"""The attestations feature (ADR-0017): metrics, inspectors' attestations, quorums and conflicts.

Decisions and visibility are in :mod:`~backchannel.domain.agreements.attestations`,
the fold in :mod:`~backchannel.domain.agreements.attestation_book`. Metric
definitions are public; delegations see every attestation, quorum and
conflict; an inspector party sees its own attestations and the quorum and
conflict events naming one of them. This module only declares the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.agreements import attestations
from backchannel.domain.agreements.attestation_book import AttestationEvent
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.attestation_events import (
    AttestationConflictFlagged,
    AttestationFiled,
    AttestationQuorumReached,
    MetricDefined,
)
from backchannel.domain.registry import Feature, command, event

__all__ = ["ATTESTATIONS"]


def _apply(draft: Draft, event: AttestationEvent) -> None:
    draft.attestations = draft.attestations.apply(event)


ATTESTATIONS = Feature(
    "attestations",
    commands=(
        command(DefineMetric, "define_metric", attestations.define_metric),
        command(FileAttestation, "file_attestation", attestations.file_attestation),
    ),
    events=(
        event(MetricDefined, _apply, attestations.attestation_visible),
        event(AttestationFiled, _apply, attestations.attestation_visible),
        event(AttestationQuorumReached, _apply, attestations.attestation_visible),
        event(AttestationConflictFlagged, _apply, attestations.attestation_visible),
    ),
)
"""Attestations (ADR-0017)."""
