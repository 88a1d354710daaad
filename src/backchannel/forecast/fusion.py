"""Fuse reports of the same event, keeping every source and every contradiction.

:func:`fuse` takes event reports in any order and returns the same
:class:`FusionResult` for every order (a Hypothesis test pins it). The rule
(ADR-0035):

1. **Exact duplicates** (same :meth:`~backchannel.forecast.events.EventReport.digest`)
   count once.
2. **Two reports match** when their actor sets are equal (case-folded, order
   ignored); the gap between their time intervals is at most
   :attr:`FusionTolerances.time_days`; and their distance is at most
   :attr:`FusionTolerances.distance_km` plus each report's location
   uncertainty (by precision code, each capped at
   :attr:`FusionTolerances.max_uncertainty_km`). A source never matches
   itself on a *different* report id: two items of one feed are two events
   (rule 3 keeps it so through third reports too).
3. **Events are grown closest match first.** Candidate matches are sorted
   by (time gap, distance, sharing a report id first, then the reports'
   digests) and joined in that order
   (single linkage, Kruskal style); a match that would put two items of one
   source into one event is refused (counted in
   :attr:`FusionResult.refused_links`: an ambiguous report goes with its
   closest match). The order is fixed by the set of reports alone, which is
   what makes the result independent of arrival order.
4. **Nothing is overwritten.** A :class:`FusedEvent` keeps every report, with
   the source's reliability, as :class:`Provenance`. Reports that disagree on
   deaths or on the event code are listed side by side in
   :attr:`FusedEvent.contradictions`.
5. **Headline values** (time, place, code, deaths) are those of the *lead*
   report: the highest reliability x confidence, then the finest location and
   date precision, then the smallest digest. The deaths envelope is the
   lowest ``low`` and the highest ``high`` of all reports. The fused confidence
   is ``1 - prod(1 - reliability x confidence)`` over distinct sources (each
   source's best report).

Reliability is the analyst's: a :class:`SourceReliability` maps source names
to 0..1, with a default for sources not named.

This module does not persist anything (see :mod:`backchannel.forecast.store`)
and reads no clock.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from backchannel.errors import EncodingError
from backchannel.forecast.events import (
    EventCode,
    EventReport,
    EventTime,
    Fatalities,
    Location,
)
from backchannel.forecast.geo import haversine_km

__all__ = [
    "Contradiction",
    "FusedEvent",
    "FusionResult",
    "FusionTolerances",
    "Provenance",
    "SourceReliability",
    "fuse",
]

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class FusionTolerances:
    """How close two reports must be to be reports of one event.

    Attributes:
        time_days: The largest gap, in days, between the two time intervals.
        distance_km: The largest distance beyond the two locations' uncertainty.
        max_uncertainty_km: The cap on one report's location uncertainty (so a
            country-level report cannot match the whole country).
    """

    time_days: float = 1.0
    distance_km: float = 25.0
    max_uncertainty_km: float = 150.0

    def __post_init__(self) -> None:
        """Check that every tolerance is a finite number >= 0."""
        for name in ("time_days", "distance_km", "max_uncertainty_km"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise EncodingError(f"tolerances.{name}: must be a finite number >= 0 (got {value!r})")


@dataclass(frozen=True)
class SourceReliability:
    """The analyst's reliability of each source, 0 (worthless) to 1 (always right).

    Attributes:
        table: Source name -> reliability.
        default: The reliability of a source not in the table.
    """

    table: Mapping[str, float] = field(default_factory=dict)
    default: float = 0.5

    def __post_init__(self) -> None:
        """Check that every reliability is in [0, 1]."""
        for name, value in {**self.table, "<default>": self.default}.items():
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise EncodingError(f"reliability[{name!r}]: must be a number in [0, 1] (got {value!r})")

    def of(self, source: str) -> float:
        """The reliability of ``source``."""
        return self.table.get(source, self.default)


@dataclass(frozen=True, slots=True)
class Provenance:
    """One report behind a fused event.

    Attributes:
        source: Who reported it.
        report_id: The feed's id of the item.
        digest: The report's digest.
        reliability: The source's reliability when fused.
        confidence: The source's confidence in the report.
    """

    source: str
    report_id: str
    digest: str
    reliability: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Contradiction:
    """Reports of one event that disagree on a field, kept side by side.

    Attributes:
        field: ``"fatalities"`` or ``"event_code"``.
        values: (value as text, digests of the reports that say it), sorted by value.
    """

    field: str
    values: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class FusedEvent:
    """One event as told by one or more reports.

    Attributes:
        event_id: SHA-256 (hex) over the sorted digests of its reports.
        reports: Every report, sorted by digest.
        provenance: One entry per report, in the same order.
        lead: The report the headline values come from.
        confidence: The fused confidence (see the module docstring).
        fatalities_low: The lowest ``low`` over reports with deaths (None: none have).
        fatalities_high: The highest ``high`` over reports with deaths.
        contradictions: Fields on which the reports disagree.
    """

    event_id: str
    reports: tuple[EventReport, ...]
    provenance: tuple[Provenance, ...]
    lead: EventReport
    confidence: float
    fatalities_low: int | None
    fatalities_high: int | None
    contradictions: tuple[Contradiction, ...]

    @property
    def time(self) -> EventTime:
        """The lead report's time."""
        return self.lead.time

    @property
    def location(self) -> Location:
        """The lead report's location."""
        return self.lead.location

    @property
    def actors(self) -> tuple[str, ...]:
        """The lead report's actors."""
        return self.lead.actors

    @property
    def event_code(self) -> EventCode | None:
        """The lead report's event code (see :attr:`contradictions` for others)."""
        return self.lead.event_code

    @property
    def fatalities(self) -> Fatalities | None:
        """The lead report's deaths (see :attr:`contradictions` for others)."""
        return self.lead.fatalities

    @property
    def contradicted(self) -> bool:
        """Whether any reports disagree."""
        return bool(self.contradictions)

    def to_dict(self) -> dict[str, object]:
        """A JSON summary: headline values, provenance and contradictions."""
        return {
            "event_id": self.event_id,
            "time": self.time.to_dict(),
            "location": self.location.to_dict(),
            "actors": list(self.actors),
            "event_code": None if self.event_code is None else self.event_code.to_dict(),
            "fatalities": None if self.fatalities is None else self.fatalities.to_dict(),
            "fatalities_envelope": [self.fatalities_low, self.fatalities_high],
            "confidence": self.confidence,
            "provenance": [
                {
                    "source": p.source,
                    "report_id": p.report_id,
                    "digest": p.digest,
                    "reliability": p.reliability,
                    "confidence": p.confidence,
                }
                for p in self.provenance
            ],
            "contradictions": [
                {"field": c.field, "values": [{"value": v, "reports": list(d)} for v, d in c.values]}
                for c in self.contradictions
            ],
        }


@dataclass(frozen=True)
class FusionResult:
    """The fused events of a set of reports.

    Attributes:
        events: The fused events, sorted by (lead start time, event id).
        reports: How many distinct reports went in.
        duplicates: How many inputs were exact duplicates (same digest) and counted once.
        refused_links: Matches not made because they would have joined two items of one
            source (an ambiguous report goes with its closest match).
    """

    events: tuple[FusedEvent, ...]
    reports: int
    duplicates: int
    refused_links: int

    @property
    def contradicted(self) -> tuple[FusedEvent, ...]:
        """The events whose reports disagree."""
        return tuple(e for e in self.events if e.contradicted)


@dataclass
class _Node:
    """Reports with identical actors, time interval and coordinates, at most one item per source."""

    reports: list[EventReport]
    items: dict[str, str]  # source -> report id
    key: str = ""

    def __post_init__(self) -> None:
        self.key = min(r.digest() for r in self.reports)


def _nodes(group: Sequence[EventReport]) -> list[_Node]:
    """Collapse reports with one signature; split it by report id if a source has two items in it."""
    by_signature: dict[tuple[object, ...], list[EventReport]] = defaultdict(list)
    for report in group:
        loc = report.location
        key = (report.time.start, report.time.end, loc.latitude, loc.longitude, loc.precision)
        by_signature[key].append(report)
    nodes: list[_Node] = []
    for members in by_signature.values():
        items = {(r.source, r.report_id) for r in members}
        if len(items) == len({source for source, _ in items}):
            nodes.append(_Node(members, dict(items)))
            continue
        by_id: dict[str, list[EventReport]] = defaultdict(list)
        for report in members:
            by_id[report.report_id].append(report)
        nodes.extend(_Node(part, {r.source: rid for r in part}) for rid, part in by_id.items())
    nodes.sort(key=lambda n: (n.reports[0].time.start, n.key))
    return nodes


def _candidate_links(
    nodes: Sequence[_Node], tolerances: FusionTolerances
) -> list[tuple[float, float, bool, int, int]]:
    """Every pair of nodes close enough to match, by a sweep over start times.

    Each is (time gap s, distance km, no report id in common, i, j): the sort key of rule 3.
    """
    first = [n.reports[0] for n in nodes]
    start = np.array([r.time.start.timestamp() for r in first])
    end = np.array([r.time.end.timestamp() for r in first])
    lat = np.array([r.location.latitude for r in first])
    lon = np.array([r.location.longitude for r in first])
    unc = np.minimum(np.array([r.location.uncertainty_km for r in first]), tolerances.max_uncertainty_km)
    reach = float(np.max(end - start, initial=0.0)) + tolerances.time_days * _DAY
    links: list[tuple[float, float, bool, int, int]] = []
    lo = 0
    for i in range(1, len(nodes)):
        while start[lo] < start[i] - reach:
            lo += 1
        if lo == i:
            continue
        window = slice(lo, i)
        gap = np.maximum(start[i] - end[window], 0.0)
        distance = haversine_km(lat[i], lon[i], lat[window], lon[window])
        close = (gap <= tolerances.time_days * _DAY) & (
            distance <= tolerances.distance_km + unc[i] + unc[window]
        )
        ids = set(nodes[i].items.values())
        links.extend(
            (float(gap[k]), float(distance[k]), ids.isdisjoint(nodes[k + lo].items.values()), k + lo, i)
            for k in np.flatnonzero(close).tolist()
        )
    return links


def _components(nodes: Sequence[_Node], tolerances: FusionTolerances) -> tuple[list[list[_Node]], int]:
    """Link the closest pairs first; refuse a link that would put two items of one source together.

    Returns the components and how many links were refused.
    """
    parent = list(range(len(nodes)))
    items = [dict(n.items) for n in nodes]
    refused = 0
    for _gap, _distance, _other_ids, i, j in sorted(_candidate_links(nodes, tolerances)):
        a, b = _find(parent, i), _find(parent, j)
        if a == b:
            continue
        small, large = sorted((a, b), key=lambda root: len(items[root]))
        if any(items[large].get(source, rid) != rid for source, rid in items[small].items()):
            refused += 1
            continue
        parent[small] = large
        items[large].update(items[small])
    clusters: dict[int, list[_Node]] = defaultdict(list)
    for i, node in enumerate(nodes):
        clusters[_find(parent, i)].append(node)
    return list(clusters.values()), refused


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _lead_key(report: EventReport, reliability: SourceReliability) -> tuple[float, int, int, str]:
    weight = reliability.of(report.source) * report.confidence
    return (-weight, report.location.precision, report.time.precision, report.digest())


def _side_by_side(name: str, values: Mapping[str, list[str]]) -> tuple[Contradiction, ...]:
    if len(values) < 2:
        return ()
    return (Contradiction(name, tuple((v, tuple(sorted(values[v]))) for v in sorted(values))),)


def _contradictions(reports: Sequence[EventReport]) -> tuple[Contradiction, ...]:
    deaths: dict[str, list[str]] = defaultdict(list)
    codes: dict[str, list[str]] = defaultdict(list)
    for r in reports:
        if r.fatalities is not None:
            f = r.fatalities
            deaths[f"best {f.best} low {f.low} high {f.high}"].append(r.digest())
        if r.event_code is not None:
            codes[r.event_code.code].append(r.digest())
    return _side_by_side("fatalities", deaths) + _side_by_side("event_code", codes)


def _fused(reports: list[EventReport], reliability: SourceReliability) -> FusedEvent:
    reports.sort(key=EventReport.digest)
    digests = [r.digest() for r in reports]
    lead = min(reports, key=lambda r: _lead_key(r, reliability))
    best_by_source: dict[str, float] = {}
    for r in reports:
        weight = reliability.of(r.source) * r.confidence
        best_by_source[r.source] = max(best_by_source.get(r.source, 0.0), weight)
    doubt = math.prod(1.0 - best_by_source[s] for s in sorted(best_by_source))
    deaths = [r.fatalities for r in reports if r.fatalities is not None]
    return FusedEvent(
        event_id=hashlib.sha256("".join(digests).encode("ascii")).hexdigest(),
        reports=tuple(reports),
        provenance=tuple(
            Provenance(r.source, r.report_id, d, reliability.of(r.source), r.confidence)
            for r, d in zip(reports, digests, strict=True)
        ),
        lead=lead,
        confidence=1.0 - doubt,
        fatalities_low=min((f.low for f in deaths), default=None),
        fatalities_high=max((f.high for f in deaths), default=None),
        contradictions=_contradictions(reports),
    )


def fuse(
    reports: Iterable[EventReport],
    tolerances: FusionTolerances | None = None,
    reliability: SourceReliability | None = None,
) -> FusionResult:
    """Fuse reports into events (the rule is in the module docstring).

    Args:
        reports: The reports, in any order; exact duplicates count once.
        tolerances: How close reports of one event must be (defaults: 1 day, 25 km).
        reliability: The analyst's source reliabilities (default: 0.5 for every source).

    Returns:
        The fused events; the same for every order of ``reports``.
    """
    tolerances = tolerances or FusionTolerances()
    reliability = reliability or SourceReliability()
    unique: dict[str, EventReport] = {}
    seen = 0
    for report in reports:
        seen += 1
        unique.setdefault(report.digest(), report)
    groups: dict[frozenset[str], list[EventReport]] = defaultdict(list)
    for report in unique.values():
        groups[report.actor_key].append(report)
    events: list[FusedEvent] = []
    refused = 0
    for key in sorted(groups, key=sorted):
        components, refused_here = _components(_nodes(groups[key]), tolerances)
        refused += refused_here
        for component in components:
            members = [r for node in component for r in node.reports]
            events.append(_fused(members, reliability))
    events.sort(key=lambda e: (e.time.start, e.event_id))
    return FusionResult(tuple(events), len(unique), seen - len(unique), refused)
