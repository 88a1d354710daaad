"""Conflict events within a radius of a track's venue: counts, deaths and the trend.

A track has a :class:`Venue` (a point and a region name). :func:`radius_stats`
counts the events within ``radius_km`` of it (great-circle distance, default
800 km, about the seeds' 500 miles) whose time falls in a window, sums their
deaths (best, low, high), and compares the window with a baseline window of
``baseline_days`` before it (the trend is the ratio of daily rates).

**The precision rule** (ADR-0035), applied by :class:`PrecisionRule`:

1. An event whose location precision is coarser than
   ``max_location_precision`` (default ADM1, UCDP ``where_prec`` 4; i.e.
   region-, country- and sea-level events are out) is *excluded*: its
   coordinates say nothing about its distance from the venue.
2. An event whose date precision is coarser than ``max_date_precision``
   (default MONTH, ``date_prec`` 4; i.e. year-only events are out) is
   *excluded*: it cannot be placed in a window.
3. An event is in a window when its time interval's *midpoint* is in
   ``[since, until)``.
4. An event counts when its coordinates are within the radius; one whose
   location uncertainty (by precision code) reaches across the circle is still
   counted but reported as *boundary*, so the reader sees how soft the count is.

Excluded events are counted (``excluded_location``, ``excluded_date``) when
they would otherwise have been in the radius and in the window or baseline.
Everything is vectorised with NumPy over :class:`EventArrays`.

This module does not draw (see :mod:`backchannel.forecast.plots`), read feeds
or fuse reports; it reads no clock (windows are inputs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from backchannel.errors import EncodingError
from backchannel.forecast.events import (
    LOCATION_UNCERTAINTY_KM,
    DatePrecision,
    EventReport,
    LocationPrecision,
)
from backchannel.forecast.fusion import FusedEvent
from backchannel.forecast.geo import haversine_km

__all__ = [
    "DEFAULT_RADIUS_KM",
    "EventArrays",
    "MonthlyPoint",
    "PrecisionRule",
    "RadiusQuery",
    "RadiusStats",
    "Venue",
    "WindowStats",
    "monthly_series",
    "radius_stats",
]

DEFAULT_RADIUS_KM = 800.0
"""About 500 miles."""

_DAY = 86400.0
_UNCERTAINTY = np.array([0.0] + [LOCATION_UNCERTAINTY_KM[p] for p in LocationPrecision])


@dataclass(frozen=True, slots=True)
class Venue:
    """Where a track meets.

    Attributes:
        latitude: Degrees north.
        longitude: Degrees east.
        region: The region the track concerns (a label, e.g. ``"Central Africa"``).
    """

    latitude: float
    longitude: float
    region: str = ""

    def __post_init__(self) -> None:
        """Check the coordinates' ranges."""
        if not (math.isfinite(self.latitude) and -90.0 <= self.latitude <= 90.0):
            raise EncodingError(f"venue.latitude: must be a number in [-90, 90] (got {self.latitude!r})")
        if not (math.isfinite(self.longitude) and -180.0 <= self.longitude <= 180.0):
            raise EncodingError(f"venue.longitude: must be a number in [-180, 180] (got {self.longitude!r})")

    @classmethod
    def from_text(cls, text: str, region: str = "") -> Venue:
        """Parse ``"LAT,LON"`` (degrees), e.g. ``"4.36,18.56"``.

        Raises:
            EncodingError: not two comma-separated numbers in range.
        """
        parts = text.split(",")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError as e:
            raise EncodingError(f"venue: must be LAT,LON in degrees (got {text!r})") from e
        return cls(lat, lon, region)


@dataclass(frozen=True, slots=True)
class PrecisionRule:
    """Which events are precise enough to count (rules 1 and 2 of the module docstring).

    Attributes:
        max_location_precision: The coarsest location precision counted.
        max_date_precision: The coarsest date precision counted.
    """

    max_location_precision: LocationPrecision = LocationPrecision.ADM1
    max_date_precision: DatePrecision = DatePrecision.MONTH


@dataclass(frozen=True, slots=True)
class RadiusQuery:
    """What to count.

    Attributes:
        venue: The centre.
        since: The window's start (inclusive, aware UTC).
        until: The window's end (exclusive).
        radius_km: The radius.
        baseline_days: The length of the baseline window just before ``since``.
        rule: The precision rule.
    """

    venue: Venue
    since: datetime
    until: datetime
    radius_km: float = DEFAULT_RADIUS_KM
    baseline_days: int = 365
    rule: PrecisionRule = field(default_factory=PrecisionRule)

    def __post_init__(self) -> None:
        """Check the window, radius and baseline."""
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise EncodingError("query.since/until: must be timezone-aware")
        if self.until <= self.since:
            raise EncodingError(f"query.until: must be after since {self.since.isoformat()}")
        if not (math.isfinite(self.radius_km) and self.radius_km > 0):
            raise EncodingError(f"query.radius_km: must be a number > 0 (got {self.radius_km!r})")
        if self.baseline_days < 1:
            raise EncodingError(f"query.baseline_days: must be >= 1 (got {self.baseline_days!r})")

    @property
    def baseline_since(self) -> datetime:
        """The baseline window's start (it ends at ``since``)."""
        return self.since - timedelta(days=self.baseline_days)


@dataclass(frozen=True)
class EventArrays:
    """Events as columns (one row per event), the input of every vectorised count.

    Attributes:
        latitude: Degrees.
        longitude: Degrees.
        midpoint: The time interval's midpoint, POSIX seconds.
        where_prec: Location precision codes.
        date_prec: Date precision codes.
        best: Deaths, best estimate (0 where unknown).
        low: Deaths, low (for fused events the envelope's low).
        high: Deaths, high (for fused events the envelope's high).
    """

    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    midpoint: npt.NDArray[np.float64]
    where_prec: npt.NDArray[np.int64]
    date_prec: npt.NDArray[np.int64]
    best: npt.NDArray[np.int64]
    low: npt.NDArray[np.int64]
    high: npt.NDArray[np.int64]

    @classmethod
    def of(cls, events: Sequence[EventReport | FusedEvent]) -> EventArrays:
        """Columns of reports or fused events."""
        rows = [_row(e) for e in events]
        columns = list(zip(*rows, strict=True)) if rows else [()] * 8
        lat, lon, mid = (np.array(c, dtype=np.float64) for c in columns[:3])
        where, date, best, low, high = (np.array(c, dtype=np.int64) for c in columns[3:])
        return cls(lat, lon, mid, where, date, best, low, high)

    def __len__(self) -> int:
        """The number of events."""
        return len(self.latitude)

    def distance_km(self, venue: Venue) -> npt.NDArray[np.float64]:
        """Each event's great-circle distance from the venue."""
        return haversine_km(venue.latitude, venue.longitude, self.latitude, self.longitude)


def _row(event: EventReport | FusedEvent) -> tuple[float, float, float, int, int, int, int, int]:
    deaths = event.fatalities
    best = deaths.best if deaths else 0
    if isinstance(event, FusedEvent):
        low, high = event.fatalities_low or 0, event.fatalities_high or 0
    else:
        low, high = (deaths.low, deaths.high) if deaths else (0, 0)
    loc = event.location
    return (
        loc.latitude,
        loc.longitude,
        event.time.midpoint.timestamp(),
        int(loc.precision),
        int(event.time.precision),
        best,
        low,
        high,
    )


@dataclass(frozen=True, slots=True)
class WindowStats:
    """The events of one window inside the radius.

    Attributes:
        since: Start (inclusive).
        until: End (exclusive).
        events: How many events count.
        best: Their deaths, best estimates summed.
        low: Their deaths, low bounds summed.
        high: Their deaths, high bounds summed.
    """

    since: datetime
    until: datetime
    events: int
    best: int
    low: int
    high: int

    @property
    def days(self) -> float:
        """The window's length in days."""
        return (self.until - self.since).total_seconds() / _DAY

    def to_dict(self) -> dict[str, object]:
        """The window as JSON."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": self.days,
            "events": self.events,
            "fatalities": {"best": self.best, "low": self.low, "high": self.high},
        }


@dataclass(frozen=True, slots=True)
class RadiusStats:
    """What :func:`radius_stats` found.

    Attributes:
        query: The query.
        window: The window's counts.
        baseline: The baseline window's counts.
        event_trend: Events per day in the window / per day in the baseline (None: baseline empty).
        fatality_trend: The same for best-estimate deaths.
        boundary: Events counted in the window whose location uncertainty crosses the circle.
        excluded_location: Events left out for a too coarse location (rule 1).
        excluded_date: Events left out for a too coarse date (rule 2).
    """

    query: RadiusQuery
    window: WindowStats
    baseline: WindowStats
    event_trend: float | None
    fatality_trend: float | None
    boundary: int
    excluded_location: int
    excluded_date: int

    def to_dict(self) -> dict[str, object]:
        """The statistics as JSON."""
        q = self.query
        return {
            "venue": {"latitude": q.venue.latitude, "longitude": q.venue.longitude, "region": q.venue.region},
            "radius_km": q.radius_km,
            "window": self.window.to_dict(),
            "baseline": self.baseline.to_dict(),
            "event_trend": self.event_trend,
            "fatality_trend": self.fatality_trend,
            "boundary": self.boundary,
            "excluded": {"location_precision": self.excluded_location, "date_precision": self.excluded_date},
            "rule": {
                "max_location_precision": int(q.rule.max_location_precision),
                "max_date_precision": int(q.rule.max_date_precision),
            },
        }


def _ratio(window: WindowStats, baseline: WindowStats, attribute: str) -> float | None:
    base = float(getattr(baseline, attribute)) / baseline.days
    if base == 0:
        return None
    return (float(getattr(window, attribute)) / window.days) / base


def _window(
    arrays: EventArrays, mask: npt.NDArray[np.bool_], since: datetime, until: datetime
) -> WindowStats:
    return WindowStats(
        since,
        until,
        int(mask.sum()),
        int(arrays.best[mask].sum()),
        int(arrays.low[mask].sum()),
        int(arrays.high[mask].sum()),
    )


def radius_stats(events: EventArrays | Sequence[EventReport | FusedEvent], query: RadiusQuery) -> RadiusStats:
    """Count the events in the radius and window, against the baseline (rules in the module docstring).

    Args:
        events: Reports, fused events, or their :class:`EventArrays`.
        query: The venue, radius, window, baseline and precision rule.

    Returns:
        The counts, deaths, trend, and the boundary and excluded counts.
    """
    arrays = events if isinstance(events, EventArrays) else EventArrays.of(events)
    distance = arrays.distance_km(query.venue)
    inside = distance <= query.radius_km
    t = arrays.midpoint
    in_window = (t >= query.since.timestamp()) & (t < query.until.timestamp())
    in_baseline = (t >= query.baseline_since.timestamp()) & (t < query.since.timestamp())
    place_ok = arrays.where_prec <= int(query.rule.max_location_precision)
    date_ok = arrays.date_prec <= int(query.rule.max_date_precision)
    relevant = inside & (in_window | in_baseline)
    counted = inside & place_ok & date_ok
    window = _window(arrays, counted & in_window, query.since, query.until)
    baseline = _window(arrays, counted & in_baseline, query.baseline_since, query.since)
    soft = np.abs(distance - query.radius_km) <= _UNCERTAINTY[arrays.where_prec]
    return RadiusStats(
        query=query,
        window=window,
        baseline=baseline,
        event_trend=_ratio(window, baseline, "events"),
        fatality_trend=_ratio(window, baseline, "best"),
        boundary=int((counted & in_window & soft).sum()),
        excluded_location=int((relevant & ~place_ok).sum()),
        excluded_date=int((relevant & place_ok & ~date_ok).sum()),
    )


@dataclass(frozen=True, slots=True)
class MonthlyPoint:
    """One calendar month of events inside the radius.

    Attributes:
        month: The month's first day (UTC midnight).
        events: Events counted.
        best: Deaths, best estimates summed.
        in_window: Whether the month starts inside the query window (else: baseline).
    """

    month: datetime
    events: int
    best: int
    in_window: bool


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(month: datetime) -> datetime:
    return (month + timedelta(days=32)).replace(day=1)


def monthly_series(
    events: EventArrays | Sequence[EventReport | FusedEvent], query: RadiusQuery
) -> list[MonthlyPoint]:
    """Monthly counts inside the radius from the baseline's start to the window's end.

    Args:
        events: Reports, fused events, or their :class:`EventArrays`.
        query: The venue, radius, window, baseline and precision rule.

    Returns:
        One point per calendar month (counted by the same rule as :func:`radius_stats`).
    """
    arrays = events if isinstance(events, EventArrays) else EventArrays.of(events)
    months = [_month_start(query.baseline_since)]
    while _next_month(months[-1]) < query.until:
        months.append(_next_month(months[-1]))
    edges = np.array([m.timestamp() for m in [*months, _next_month(months[-1])]])
    t = arrays.midpoint
    counted = (
        (arrays.distance_km(query.venue) <= query.radius_km)
        & (arrays.where_prec <= int(query.rule.max_location_precision))
        & (arrays.date_prec <= int(query.rule.max_date_precision))
        & (t >= query.baseline_since.timestamp())
        & (t < query.until.timestamp())
    )
    index = np.searchsorted(edges, t[counted], side="right") - 1
    counts = np.bincount(index, minlength=len(months))
    deaths = np.bincount(index, weights=arrays.best[counted], minlength=len(months))
    first_window_month = _month_start(query.since)
    return [
        MonthlyPoint(m, int(counts[i]), int(deaths[i]), m >= first_window_month) for i, m in enumerate(months)
    ]
