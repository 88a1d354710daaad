"""What a track's state holds about metrics and attestations, and how events change it.

:class:`AttestationBook` is the ``attestations`` field of
:class:`~backchannel.domain.state.TrackState`: every metric's rule, every
attestation ever filed (never overwritten), and per (metric, site,
observation window) the attestations filed for it, the value that counts once
the quorum was reached, and the conflicts flagged. Its collections are
persistent maps (``immutables.Map``), so applying an event costs O(log n).

:meth:`AttestationBook.apply` is the fold step (called by
:mod:`~backchannel.domain.evolve`); like ``evolve`` it trusts its events and
raises ``KeyError`` only for a reference to something unknown.

This module does not decide commands (see
:mod:`~backchannel.domain.agreements.attestations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from immutables import Map

from backchannel.domain.agreements.attestation_events import (
    AttestationConflictFlagged,
    AttestationFiled,
    AttestationQuorumReached,
    MetricDefined,
)
from backchannel.domain.agreements.predicates import window_index, window_start
from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.ids import party_of
from backchannel.errors import DomainError

__all__ = [
    "ATTESTATION_EVENTS",
    "EMPTY_ATTESTATIONS",
    "Attestation",
    "AttestationBook",
    "AttestationEvent",
    "Counted",
    "MetricRule",
    "UnknownMetricError",
    "WindowRecord",
]

AttestationEvent = MetricDefined | AttestationFiled | AttestationQuorumReached | AttestationConflictFlagged
ATTESTATION_EVENTS = (MetricDefined, AttestationFiled, AttestationQuorumReached, AttestationConflictFlagged)
"""The event classes this book folds."""


class UnknownMetricError(DomainError):
    """No metric of that name was defined on the track."""


@dataclass(frozen=True, slots=True)
class MetricRule:
    """A metric's unit and quorum rule (see :class:`DefineMetric`).

    Attributes:
        name: Its dotted name.
        unit: The unit attestations must name.
        issue: The agenda issue it measures, if any.
        inspectors: The inspector parties that may attest it (k).
        quorum: How many must agree (m).
        tolerance: How far apart agreeing values may be.
        tolerance_kind: Absolute or relative.
        window: The observation window's length.
        defined_at: When it was defined.
    """

    name: str
    unit: str
    issue: str | None
    inspectors: tuple[str, ...]
    quorum: int
    tolerance: float
    tolerance_kind: ToleranceKind
    window: timedelta
    defined_at: datetime

    def window_of(self, at: datetime) -> int:
        """The index of the observation window holding ``at``."""
        return window_index(at, self.window)

    def window_start(self, index: int) -> datetime:
        """When observation window ``index`` starts."""
        return window_start(index, self.window)


@dataclass(frozen=True, slots=True)
class Attestation:
    """One filed attestation, as signed by an inspector.

    Attributes:
        attestation_id: The hex of its command's digest.
        metric: The metric.
        value: The value, in :attr:`unit`.
        unit: The metric's unit.
        observed_at: When the inspector says it observed it.
        site: Where.
        window: The index of the metric's observation window holding :attr:`observed_at`.
        party: The inspector party.
        by: The member who signed it.
        at: When it was filed (decision time).
    """

    attestation_id: str
    metric: str
    value: float
    unit: str
    observed_at: datetime
    site: str
    window: int
    party: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Counted:
    """The value that counts for one (metric, site, window): the quorum's decision.

    Attributes:
        value: The agreeing cluster's low median.
        attestations: The agreeing attestations' ids.
        parties: Their inspector parties (same order).
        at: When the quorum was reached.
    """

    value: float
    attestations: tuple[str, ...]
    parties: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """Every attestation of one metric at one site in one observation window.

    Attributes:
        metric: The metric.
        site: The site.
        window: The window's index.
        attestations: Their ids, in filing order.
        parties: The inspector party of each (same order; each party at most once).
        counted: The quorum's decision, once reached (never replaced).
        conflicts: ``(attestation id, ids it disagrees with)`` per flag, in order.
    """

    metric: str
    site: str
    window: int
    attestations: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()
    counted: Counted | None = None
    conflicts: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class AttestationBook:
    """Metrics and attestations of one track (see the module docstring).

    Attributes:
        metrics: Name -> rule.
        attestations: Id -> attestation (all of them, conflicting ones included).
        windows: (metric, site, window index) -> what was filed there.
        counted: (metric, window index) -> the counted ``(site, value)`` pairs (sites in order reached).
    """

    metrics: Map[str, MetricRule]
    attestations: Map[str, Attestation]
    windows: Map[tuple[str, str, int], WindowRecord]
    counted: Map[tuple[str, int], tuple[tuple[str, float], ...]]

    def metric(self, name: str) -> MetricRule:
        """The rule of metric ``name``.

        Raises:
            UnknownMetricError: no such metric.
        """
        rule = self.metrics.get(name)
        if rule is None:
            raise UnknownMetricError(f"no metric {name!r} is defined on this track")
        return rule

    def window(self, metric: str, site: str, index: int) -> WindowRecord:
        """What was filed for ``metric`` at ``site`` in window ``index`` (an empty record if nothing)."""
        return self.windows.get((metric, site, index)) or WindowRecord(metric, site, index)

    def counted_in(self, metric: str, index: int) -> Sequence[tuple[str, float]]:
        """The counted ``(site, value)`` pairs of ``metric`` in window ``index``."""
        return self.counted.get((metric, index), ())

    def apply(self, event: AttestationEvent) -> AttestationBook:
        """The book after ``event`` (``KeyError`` for a reference to something unknown)."""
        match event:
            case MetricDefined():
                rule = MetricRule(
                    event.metric,
                    event.unit,
                    event.issue,
                    event.inspectors,
                    event.quorum,
                    event.tolerance,
                    event.tolerance_kind,
                    timedelta(seconds=event.window_seconds),
                    event.at,
                )
                return replace(self, metrics=self.metrics.set(event.metric, rule))
            case AttestationFiled():
                return self._filed(event)
            case AttestationQuorumReached():
                return self._quorum(event)
            case _:  # AttestationConflictFlagged
                key = self._key(event.metric, event.site, event.window_start)
                record = self.windows[key]
                flag = (event.attestation, event.conflicts_with)
                return replace(
                    self, windows=self.windows.set(key, replace(record, conflicts=(*record.conflicts, flag)))
                )

    def _key(self, metric: str, site: str, start: datetime) -> tuple[str, str, int]:
        return (metric, site, self.metrics[metric].window_of(start))

    def _filed(self, event: AttestationFiled) -> AttestationBook:
        key = self._key(event.metric, event.site, event.observed_at)
        attestation = Attestation(
            event.attestation_id,
            event.metric,
            event.value,
            event.unit,
            event.observed_at,
            event.site,
            key[2],
            party_of(event.by),
            event.by,
            event.at,
        )
        record = self.window(*key)
        record = replace(
            record,
            attestations=(*record.attestations, attestation.attestation_id),
            parties=(*record.parties, attestation.party),
        )
        return replace(
            self,
            attestations=self.attestations.set(attestation.attestation_id, attestation),
            windows=self.windows.set(key, record),
        )

    def _quorum(self, event: AttestationQuorumReached) -> AttestationBook:
        key = self._key(event.metric, event.site, event.window_start)
        record = self.windows[key]
        counted = Counted(event.value, event.attestations, event.parties, event.at)
        slot = (event.metric, key[2])
        pairs = (*self.counted_in(*slot), (event.site, event.value))
        return replace(
            self,
            windows=self.windows.set(key, replace(record, counted=counted)),
            counted=self.counted.set(slot, pairs),
        )


EMPTY_ATTESTATIONS = AttestationBook(Map(), Map(), Map(), Map())
"""The book of a track with no metric yet."""
