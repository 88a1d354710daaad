"""``backchannel feed``: import event feeds, list fused events, count around a venue, check staleness.

- ``feed import FILE --format ucdp|generic --store PATH``: append a feed's
  reports to the append-only feed store (progress bar; ``--collect-errors``
  skips and lists bad rows instead of stopping at the first).
- ``feed list --store PATH``: the fused events, with their sources and any
  contradictions (``--contradicted`` shows only those).
- ``feed radius --venue LAT,LON --radius-km 800 --since D --until D``: counts,
  deaths and trend within the radius (``--plot-map``/``--plot-series`` write PNGs).
- ``feed stale --forecast FILE --venue LAT,LON``: whether reports that arrived
  after a forecast's watermark make it stale, with its age and the item.
- ``feed audit``: recompute every digest and the hash chain.
- ``feed reliability SOURCE VALUE``: set a source's reliability (a new row).

Every command takes ``--json`` (one JSON document on stdout) and prints Rich
tables otherwise. Errors end through :func:`backchannel.cli.render.diagnostic`
with exit code 1. This module holds no logic of its own beyond wiring: the
work is in :mod:`backchannel.forecast`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from backchannel.cli import render
from backchannel.clock import SystemClock
from backchannel.errors import BackchannelError, EncodingError
from backchannel.forecast.cameo import CameoTable
from backchannel.forecast.events import DatePrecision, LocationPrecision, parse_time
from backchannel.forecast.feeds import FORMATS, FeedFormat, read_feed
from backchannel.forecast.fusion import FusionTolerances, fuse
from backchannel.forecast.radius import (
    DEFAULT_RADIUS_KM,
    PrecisionRule,
    RadiusQuery,
    RadiusStats,
    Venue,
    radius_stats,
)
from backchannel.forecast.store import SQLiteFeedStore
from backchannel.forecast.watermark import Forecast, format_age, staleness

__all__ = ["feed_app"]

feed_app = typer.Typer(
    help="Event feeds: import, fuse, count around a venue, staleness (issue #10).", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")

StoreOption = Annotated[
    Path, typer.Option("--store", help="The feed store (SQLite file; created if absent).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
VenueOption = Annotated[str, typer.Option("--venue", help="The track's venue as LAT,LON in degrees.")]
RadiusOption = Annotated[float, typer.Option("--radius-km", min=0.001, help="The radius (great-circle km).")]


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except BackchannelError as e:
        err.print(render.diagnostic(e))
        raise typer.Exit(1) from e


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields a callback taking (done, total)."""
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )
    with bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _emit(document: object) -> None:
    print(json.dumps(document, indent=2, sort_keys=True, default=str))


def _time(text: str, option: str) -> datetime:
    return parse_time(text, option)


@feed_app.command("import")
def feed_import(
    file: Annotated[Path, typer.Argument(help="A .csv or .json feed file.")],
    feed_format: Annotated[str, typer.Option("--format", help=f"The feed's format: {'|'.join(FORMATS)}.")],
    store: StoreOption = Path("feeds.db"),
    source: Annotated[str, typer.Option("--source", help="The source name for UCDP rows.")] = "UCDP GED",
    cameo: Annotated[
        Path | None, typer.Option("--cameo", help="The ICEWS CAMEO code table (cameo-codes.icews.csv).")
    ] = None,
    collect_errors: Annotated[
        bool, typer.Option("--collect-errors", help="Skip bad rows and list them instead of stopping.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Append a feed file's reports to the store (duplicates are stored once)."""

    def body() -> None:
        if feed_format not in FORMATS:
            raise EncodingError(f"--format: must be one of {', '.join(FORMATS)} (got {feed_format!r})")
        fmt: FeedFormat = "ucdp" if feed_format == "ucdp" else "generic"
        table = None if cameo is None else CameoTable.load(cameo)
        with _progress(f"reading {file.name}") as advance:
            result = read_feed(
                file, fmt, source=source, cameo=table, collect_errors=collect_errors, progress=advance
            )
        with SQLiteFeedStore(store) as feeds:
            appended = feeds.append(result.reports, SystemClock().now(), file.name)
        document = {
            "file": str(file),
            "rows": result.rows,
            "reports": len(result.reports),
            "added": appended.added,
            "duplicates": appended.duplicates,
            "store_size": appended.size,
            "head": appended.head,
            "errors": [str(e) for e in result.errors],
            "warnings": list(result.warnings),
        }
        if as_json:
            _emit(document)
            return
        summary = Table(title=f"imported {file.name}", show_header=False)
        for key in ("rows", "reports", "added", "duplicates", "store_size", "head"):
            summary.add_row(key, str(document[key]))
        summary.add_row("bad rows", str(len(result.errors)))
        summary.add_row("warnings", str(len(result.warnings)))
        out.print(summary)
        for line in [*map(str, result.errors), *result.warnings][:20]:
            out.print(f"  {line}", markup=False, highlight=False)

    _run(body)


def _fused(store: Path, time_days: float, distance_km: float) -> tuple[list[Any], int]:
    with SQLiteFeedStore(store) as feeds:
        reports = [s.report for s in feeds.reports()]
        reliability = feeds.reliability()
    result = fuse(reports, FusionTolerances(time_days, distance_km), reliability)
    return list(result.events), len(reports)


@feed_app.command("list")
def feed_list(
    store: StoreOption = Path("feeds.db"),
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many (the latest).")] = 30,
    contradicted: Annotated[
        bool, typer.Option("--contradicted", help="Only events whose reports disagree.")
    ] = False,
    time_days: Annotated[
        float, typer.Option("--time-days", min=0, help="Fusion time tolerance (days).")
    ] = 1.0,
    distance_km: Annotated[
        float, typer.Option("--distance-km", min=0, help="Fusion distance tolerance.")
    ] = 25.0,
    as_json: JsonOption = False,
) -> None:
    """List the fused events (the latest first), with sources and contradictions."""

    def body() -> None:
        events, reports = _fused(store, time_days, distance_km)
        shown = [e for e in events if e.contradicted or not contradicted][-limit:][::-1]
        if as_json:
            _emit({"reports": reports, "events": len(events), "shown": [e.to_dict() for e in shown]})
            return
        table = Table(title=f"{len(events)} fused events from {reports} reports (latest {len(shown)})")
        for column in ("date", "actors", "place", "code", "deaths", "sources", "disputed"):
            fixed = column in {"date", "code", "deaths", "disputed"}
            table.add_column(column, style="bold red" if column == "disputed" else None, no_wrap=fixed)
        for e in shown:
            deaths = (
                ""
                if e.fatalities is None
                else f"{e.fatalities.best} ({e.fatalities_low}-{e.fatalities_high})"
            )
            table.add_row(
                str(e.time.start.date()),
                " / ".join(e.actors),
                e.location.name or f"{e.location.latitude:.2f},{e.location.longitude:.2f}",
                "" if e.event_code is None else e.event_code.code,
                deaths,
                ", ".join(sorted({p.source for p in e.provenance})),
                ", ".join(f"{c.field} x{len(c.values)}" for c in e.contradictions),
            )
        out.print(table)

    _run(body)


def _radius_table(stats: RadiusStats) -> Table:
    q = stats.query
    table = Table(title=f"within {q.radius_km:g} km of {q.venue.latitude:.3f},{q.venue.longitude:.3f}")
    for column in ("window", "from", "to", "events", "deaths best", "low", "high"):
        table.add_column(column)
    for name, w in (("window", stats.window), ("baseline", stats.baseline)):
        row = (w.since.date(), w.until.date(), w.events, w.best, w.low, w.high)
        table.add_row(name, *map(str, row))
    trend = "n/a (empty baseline)" if stats.event_trend is None else f"x{stats.event_trend:.2f}"
    table.caption = (
        f"event rate vs baseline {trend}; boundary {stats.boundary}; excluded for location "
        f"{stats.excluded_location}, for date {stats.excluded_date}"
    )
    return table


@feed_app.command("radius")
def feed_radius(
    venue: VenueOption,
    since: Annotated[str, typer.Option("--since", help="The window's start (ISO date, inclusive).")],
    until: Annotated[str, typer.Option("--until", help="The window's end (ISO date, exclusive).")],
    store: StoreOption = Path("feeds.db"),
    radius_km: RadiusOption = DEFAULT_RADIUS_KM,
    baseline_days: Annotated[
        int, typer.Option("--baseline-days", min=1, help="Baseline before --since.")
    ] = 365,
    region: Annotated[str, typer.Option("--region", help="The venue's name or region (for pictures).")] = "",
    max_where_prec: Annotated[
        int, typer.Option("--max-where-prec", min=1, max=7, help="Coarsest location precision counted.")
    ] = 4,
    max_date_prec: Annotated[
        int, typer.Option("--max-date-prec", min=1, max=5, help="Coarsest date precision counted.")
    ] = 4,
    plot_map: Annotated[Path | None, typer.Option("--plot-map", help="Write a map PNG here.")] = None,
    plot_series: Annotated[
        Path | None, typer.Option("--plot-series", help="Write a series PNG here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Count events, deaths and the trend within a radius of the venue, over fused events."""

    def body() -> None:
        rule = PrecisionRule(LocationPrecision(max_where_prec), DatePrecision(max_date_prec))
        query = RadiusQuery(
            Venue.from_text(venue, region),
            _time(since, "--since"),
            _time(until, "--until"),
            radius_km,
            baseline_days,
            rule,
        )
        events, _ = _fused(store, 1.0, 25.0)
        stats = radius_stats(events, query)
        pictures = _pictures(events, query, plot_map, plot_series)
        if as_json:
            _emit({**stats.to_dict(), "pictures": pictures})
            return
        out.print(_radius_table(stats))
        for picture in pictures:
            out.print(f"wrote {picture}", markup=False)

    _run(body)


def _pictures(
    events: list[Any], query: RadiusQuery, map_png: Path | None, series_png: Path | None
) -> list[str]:
    if map_png is None and series_png is None:
        return []
    from backchannel.forecast import plots  # matplotlib is loaded only when a picture is asked for

    written = []
    if map_png is not None:
        written.append(str(plots.plot_map(events, query, map_png)))
    if series_png is not None:
        written.append(str(plots.plot_series(events, query, series_png)))
    return written


@feed_app.command("stale")
def feed_stale(
    forecast_file: Annotated[Path, typer.Option("--forecast", help="A forecast JSON (Forecast.to_dict).")],
    venue: VenueOption,
    store: StoreOption = Path("feeds.db"),
    radius_km: RadiusOption = DEFAULT_RADIUS_KM,
    actor: Annotated[list[str] | None, typer.Option("--actor", help="A track actor (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Whether reports that arrived after a forecast's watermark make it stale (always with its age)."""

    def body() -> None:
        try:
            forecast = Forecast.from_dict(json.loads(forecast_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise EncodingError(f"--forecast {forecast_file}: not a readable JSON file: {e}") from e
        with SQLiteFeedStore(store) as feeds:
            newer = [s.report for s in feeds.reports(after=forecast.watermark.store_size)]
        now = SystemClock().now()
        verdict = staleness(forecast.watermark, newer, now, Venue.from_text(venue), radius_km, actor or [])
        if as_json:
            _emit({"forecast": forecast.name, "checked": len(newer), **verdict.to_dict()})
            return
        style = "bold red" if verdict else "bold green"
        out.print(f"{forecast.name}: computed {format_age(forecast.age(now))} ago", markup=False)
        out.print(verdict.describe(), style=style, markup=False)

    _run(body)


@feed_app.command("audit")
def feed_audit(
    store: StoreOption = Path("feeds.db"),
    head: Annotated[
        str | None, typer.Option("--head", help="The head an import printed (catches truncation).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute every report's digest and the hash chain; exit 1 on the first bad row."""

    def body() -> None:
        with SQLiteFeedStore(store) as feeds:
            audit = feeds.check(head)
        document = {"ok": bool(audit), "size": audit.size, "head": audit.head, "bad_seq": audit.bad_seq}
        if as_json:
            _emit({**document, "problem": audit.problem})
        elif audit:
            out.print(f"verified {audit.size} reports; head {audit.head}", style="bold green", markup=False)
        if not audit:
            if not as_json:
                err.print(f"row {audit.bad_seq}: {audit.problem}", style="bold red", markup=False)
            raise typer.Exit(1)

    _run(body)


@feed_app.command("reliability")
def feed_reliability(
    source: Annotated[str, typer.Argument(help="The source's name, as in the reports.")],
    value: Annotated[float, typer.Argument(help="Its reliability, 0 to 1.")],
    store: StoreOption = Path("feeds.db"),
    as_json: JsonOption = False,
) -> None:
    """Set a source's reliability (recorded as a new row; the latest wins)."""

    def body() -> None:
        with SQLiteFeedStore(store) as feeds:
            feeds.set_reliability(source, value, SystemClock().now())
            table = feeds.reliability()
        if as_json:
            _emit({"reliability": dict(table.table), "default": table.default})
            return
        out.print(f"{source}: reliability {value:g}", markup=False)

    _run(body)
