"""Pictures of the events around a venue: a map and a monthly time series (PNG).

:func:`plot_map` draws the events as points in longitude/latitude (sized by
deaths, coloured by whether they count in the window, the baseline or
neither), the venue and the radius circle (the true great circle, traced
point by point, so it is not a circle in degrees away from the equator).
:func:`plot_series` draws monthly event counts and best-estimate deaths inside
the radius, with the baseline months shaded and the baseline's monthly mean as
a line.

matplotlib runs headless (the Agg backend) and downloads nothing: no map tiles
and no coastlines. matplotlib is a dependency of backchannel (pinned, Agg backend);
importing this module without it raises
:class:`~backchannel.errors.ConfigurationError`.

This module does not count (see :mod:`backchannel.forecast.radius`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backchannel.errors import ConfigurationError
from backchannel.forecast.fusion import FusedEvent
from backchannel.forecast.geo import EARTH_RADIUS_KM
from backchannel.forecast.radius import EventArrays, RadiusQuery, monthly_series

try:
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure
except ImportError as e:  # pragma: no cover - exercised only on a broken install
    raise ConfigurationError("plots need matplotlib, a dependency of backchannel: reinstall it") from e

from backchannel.forecast.events import EventReport

__all__ = ["circle_points", "plot_map", "plot_series"]

_DPI = 120


def circle_points(latitude: float, longitude: float, radius_km: float, steps: int = 361) -> np.ndarray:
    """Points (lat, lon) in degrees on the great circle ``radius_km`` around a point.

    Args:
        latitude: The centre's latitude.
        longitude: The centre's longitude.
        radius_km: The radius.
        steps: How many points (the first and last coincide).

    Returns:
        An array of shape (steps, 2).
    """
    bearing = np.linspace(0.0, 2 * np.pi, steps)
    delta = radius_km / EARTH_RADIUS_KM
    phi1, lam1 = np.radians(latitude), np.radians(longitude)
    phi2 = np.arcsin(np.sin(phi1) * np.cos(delta) + np.cos(phi1) * np.sin(delta) * np.cos(bearing))
    lam2 = lam1 + np.arctan2(
        np.sin(bearing) * np.sin(delta) * np.cos(phi1), np.cos(delta) - np.sin(phi1) * np.sin(phi2)
    )
    return np.column_stack([np.degrees(phi2), (np.degrees(lam2) + 540.0) % 360.0 - 180.0])


def _save(figure: Figure, out: Path) -> Path:
    figure.savefig(out, dpi=_DPI, format="png")
    plt.close(figure)
    return out


def plot_map(events: EventArrays | Sequence[EventReport | FusedEvent], query: RadiusQuery, out: Path) -> Path:
    """Draw the events, the venue and the radius circle to a PNG.

    Args:
        events: Reports, fused events, or their columns.
        query: The venue, radius, window and baseline.
        out: The PNG to write.

    Returns:
        ``out``.
    """
    arrays = events if isinstance(events, EventArrays) else EventArrays.of(events)
    t = arrays.midpoint
    precise = (arrays.where_prec <= int(query.rule.max_location_precision)) & (
        arrays.date_prec <= int(query.rule.max_date_precision)
    )
    inside = arrays.distance_km(query.venue) <= query.radius_km
    window = precise & (t >= query.since.timestamp()) & (t < query.until.timestamp())
    baseline = precise & (t >= query.baseline_since.timestamp()) & (t < query.since.timestamp())
    figure, axes = plt.subplots(figsize=(8, 7))
    size = 12 + 4 * np.sqrt(arrays.best)
    layers = (
        (~(window | baseline), "#c8c8c8", "other times or too imprecise"),
        (baseline & ~window & inside, "#1f4e99", "baseline, inside the radius"),
        (baseline & ~window & ~inside, "#9ecae1", "baseline, outside the radius"),
        (window & inside, "#d62728", "window, inside the radius"),
        (window & ~inside, "#f2a07b", "window, outside the radius"),
    )
    for mask, colour, label in layers:
        count = int(mask.sum())
        axes.scatter(
            arrays.longitude[mask],
            arrays.latitude[mask],
            s=size[mask],
            c=colour,
            alpha=0.6,
            edgecolors="none",
            label=f"{label} ({count})",
        )
    ring = circle_points(query.venue.latitude, query.venue.longitude, query.radius_km)
    axes.plot(ring[:, 1], ring[:, 0], color="black", linewidth=1.2, label=f"{query.radius_km:g} km radius")
    axes.plot(
        query.venue.longitude, query.venue.latitude, marker="*", markersize=16, color="gold", mec="black"
    )
    venue = query.venue.region or f"{query.venue.latitude:.2f}, {query.venue.longitude:.2f}"
    axes.annotate(
        venue, (query.venue.longitude, query.venue.latitude), xytext=(8, 8), textcoords="offset points"
    )
    axes.set_xlabel("longitude (degrees east)")
    axes.set_ylabel("latitude (degrees north)")
    axes.set_aspect(1.0 / max(np.cos(np.radians(query.venue.latitude)), 0.1))
    span = f"{query.since.date()} to {query.until.date()}"
    axes.set_title(f"Events around {venue}: window {span}\n(point area ~ deaths, best estimate)")
    axes.grid(visible=True, linewidth=0.3)
    axes.legend(loc="lower left", fontsize=8, framealpha=0.9)
    figure.tight_layout()
    return _save(figure, out)


def plot_series(
    events: EventArrays | Sequence[EventReport | FusedEvent], query: RadiusQuery, out: Path
) -> Path:
    """Draw monthly events and deaths inside the radius, baseline months shaded, to a PNG.

    Args:
        events: Reports, fused events, or their columns.
        query: The venue, radius, window and baseline.
        out: The PNG to write.

    Returns:
        ``out``.
    """
    series = monthly_series(events, query)
    months = [p.month for p in series]
    counts = np.array([p.events for p in series])
    deaths = np.array([p.best for p in series])
    base = np.array([not p.in_window for p in series])
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for axes, values, label, colour in (
        (top, counts, "events per month", "#d62728"),
        (bottom, deaths, "deaths per month (best)", "#7f3c8d"),
    ):
        axes.bar(months, values, width=25, color=np.where(base, "#9ecae1", colour), align="edge")
        if base.any():
            mean = float(values[base].mean())
            axes.axhline(
                mean, color="#08519c", linestyle="--", linewidth=1, label=f"baseline mean {mean:.1f}"
            )
            axes.axvspan(
                months[0], query.since, color="#deebf7", alpha=0.5, zorder=0, label="baseline window"
            )
        if (~base).any():
            mean = float(values[~base].mean())
            axes.axhline(mean, color=colour, linestyle=":", linewidth=1.2, label=f"window mean {mean:.1f}")
        axes.set_ylabel(label)
        axes.grid(visible=True, axis="y", linewidth=0.3)
        axes.legend(loc="upper left", fontsize=8)
    venue = query.venue.region or f"{query.venue.latitude:.2f}, {query.venue.longitude:.2f}"
    top.set_title(f"Within {query.radius_km:g} km of {venue}, by month")
    figure.autofmt_xdate()
    figure.tight_layout()
    return _save(figure, out)
