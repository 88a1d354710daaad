"""Attestation events: a metric defined, an attestation filed, a quorum reached, a conflict flagged.

Re-exported by :mod:`backchannel.domain.events`, whose encodings they follow
(strict ``from_dict``, instants as UTC text, digests as hex). An
attestation's id is its command's digest in hex (:attr:`AttestationFiled.attestation_id`).

This module does not decide or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, TypeAlias

from backchannel.domain._event_base import Recorded
from backchannel.domain.agreements.attestation_commands import check_metric_name, check_site
from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.codec import Checked, Integer, Text
from backchannel.domain.ids import MessageId, PartyId, message_id_of

__all__ = ["AttestationConflictFlagged", "AttestationFiled", "AttestationQuorumReached", "MetricDefined"]


MetricName: TypeAlias = Annotated[str, Checked(check_metric_name)]
"""A metric name field (:func:`check_metric_name`)."""
Site: TypeAlias = Annotated[str, Checked(check_site)]
"""A site field (:func:`check_site`)."""
Unit: TypeAlias = Annotated[str, Text(32)]
"""A unit field (1 to 32 characters)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDefined(Recorded):
    """Metric ``metric`` was defined with its unit and quorum rule (see :class:`DefineMetric`)."""

    type: ClassVar[str] = "metric.defined"
    metric: MetricName
    unit: Unit
    issue: Annotated[str, Text(64)] | None
    inspectors: tuple[PartyId, ...]
    quorum: Annotated[int, Integer(1)]
    tolerance: float
    tolerance_kind: ToleranceKind
    window_seconds: Annotated[int, Integer(1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationFiled(Recorded):
    """Inspector member ``by`` attested ``value`` ``unit`` of ``metric`` at ``site``.

    The value was observed at ``observed_at``.

    ``window_start`` is the start of the metric's observation window that holds ``observed_at``.
    """

    type: ClassVar[str] = "attestation.filed"
    metric: MetricName
    value: float
    unit: Unit
    observed_at: datetime
    site: Site
    window_start: datetime

    @property
    def attestation_id(self) -> str:
        """The attestation's id: the hex of its command digest."""
        return message_id_of(self.command_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationQuorumReached(Recorded):
    """Enough inspectors agreed on ``metric`` at ``site`` in the window from ``window_start``.

    ``value`` is what counts (the cluster's low median); ``attestations`` are the
    agreeing attestations' ids, ``parties`` their inspector parties (same order).
    """

    type: ClassVar[str] = "attestation.quorum_reached"
    metric: MetricName
    site: Site
    window_start: datetime
    value: float
    unit: Unit
    attestations: tuple[MessageId, ...]
    parties: tuple[PartyId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationConflictFlagged(Recorded):
    """Attestation ``attestation`` disagrees with ``conflicts_with`` (same metric, site and window).

    Both sides stay recorded, side by side: nothing is overwritten.
    """

    type: ClassVar[str] = "attestation.conflict_flagged"
    metric: MetricName
    site: Site
    window_start: datetime
    attestation: MessageId
    conflicts_with: tuple[MessageId, ...]
