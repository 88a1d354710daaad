"""Import event reports from CSV and JSON feeds: UCDP GED and a generic format.

:func:`read_feed` reads a file (``.csv``, or ``.json`` holding a list of
objects or ``{"events": [...]}``) in one of :data:`FORMATS` and returns an
:class:`ImportResult`. Every row is checked strictly; a bad row raises
:class:`FeedRowError` naming the file, the row (1 = the first record after
the header, or the first object of the JSON list), the column and the rule.
With ``collect_errors=True`` bad rows are skipped and reported in
:attr:`ImportResult.errors` instead.

**UCDP GED** (``ucdp``): the columns of ``../shared/data/README.md``. The
report id is UCDP's ``id``; actors are ``side_a`` and ``side_b``; the time is
``date_start``..``date_end`` with ``date_prec``; the place is
``latitude``/``longitude`` with ``where_prec`` (named by
``where_coordinates``); deaths are ``best``/``low``/``high``. UCDP codes no
CAMEO events: the importer derives one from ``type_of_violence`` (1
state-based and 2 non-state -> 190 "use conventional military force", 3
one-sided -> 180 "use unconventional violence"; ADR-0035) with the ICEWS
weight. ``event_clarity`` 1 (high) gives confidence 1.0, 2 (low) 0.5. Rows
whose deaths break ``low <= best <= high`` (20 in the CAR file) are kept as
UCDP published them and listed in :attr:`ImportResult.warnings`.

**Generic** (``generic``): columns ``report_id``, ``source``, ``time`` (or
``time_start`` and optional ``time_end``; ISO 8601), ``date_precision``
(``day|days|week|month|year`` or 1-5; default ``day``), ``latitude``,
``longitude``, ``location_precision`` (``exact|near|adm2|adm1|region|
country_waters|country`` or 1-7; default ``exact``), ``location_name``,
``actors`` (``;``-separated in CSV, a list or that string in JSON),
``cameo_code`` with ``goldstein``, ``confidence`` (0..1, default 1),
``fatalities_best``/``_low``/``_high`` and ``reference``. With a CAMEO table
the code is looked up and a given ``goldstein`` must equal the table's; without
one ``goldstein`` is required with the code. A single ``time`` with a coarse
precision widens to its calendar unit (week Monday-Sunday, month, year; ``days``
to +-3 days). Unknown columns are refused.

This module does not merge reports (see :mod:`backchannel.forecast.fusion`)
and does not store them (see :mod:`backchannel.forecast.store`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

from backchannel.errors import EncodingError, NotFoundError
from backchannel.forecast.cameo import ICEWS_FALLBACK, CameoTable
from backchannel.forecast.events import (
    DatePrecision,
    EventCode,
    EventReport,
    EventTime,
    Fatalities,
    Location,
    LocationPrecision,
    parse_time,
)

__all__ = ["FORMATS", "FeedFormat", "FeedRowError", "ImportResult", "parse_rows", "read_feed"]

FeedFormat = Literal["ucdp", "generic"]
FORMATS: tuple[FeedFormat, ...] = ("ucdp", "generic")

UCDP_COLUMNS = (
    "id",
    "date_start",
    "date_end",
    "date_prec",
    "type_of_violence",
    "side_a",
    "side_b",
    "latitude",
    "longitude",
    "where_prec",
    "where_coordinates",
    "event_clarity",
    "source_article",
    "best",
    "low",
    "high",
)
GENERIC_COLUMNS = frozenset(
    {
        "report_id",
        "source",
        "time",
        "time_start",
        "time_end",
        "date_precision",
        "latitude",
        "longitude",
        "location_precision",
        "location_name",
        "actors",
        "cameo_code",
        "goldstein",
        "confidence",
        "fatalities_best",
        "fatalities_low",
        "fatalities_high",
        "reference",
    }
)
_UCDP_CODES = {1: "190", 2: "190", 3: "180"}
_CLARITY_CONFIDENCE = {1: 1.0, 2: 0.5}
_DATE_NAMES = {p.name.lower(): p for p in DatePrecision}
_PLACE_NAMES = {p.name.lower(): p for p in LocationPrecision}


class FeedRowError(EncodingError):
    """A feed row breaks a rule.

    Attributes:
        where: The file (or feed) name.
        row: The 1-based row (0 for the header).
        column: The column (or JSON key).
        rule: The rule that was broken, with what was found.
    """

    def __init__(self, where: str, row: int, column: str, rule: str) -> None:
        """Create the error naming the row, the column and the rule."""
        super().__init__(f"{where} row {row}, column {column!r}: {rule}")
        self.where = where
        self.row = row
        self.column = column
        self.rule = rule


class _BadValueError(Exception):
    """A cell breaks a rule (internal: becomes a FeedRowError with the row)."""

    def __init__(self, column: str, rule: str, got: object) -> None:
        super().__init__(column)
        self.column = column
        self.rule = f"{rule} (got {got!r})"


@dataclass(frozen=True)
class ImportResult:
    """What a feed import read.

    Attributes:
        reports: The reports of the good rows, in file order.
        errors: The bad rows' errors (only with ``collect_errors``; else the first raises).
        warnings: Rows kept with a data-quality note (e.g. UCDP deaths not ordered).
        rows: How many rows the file had.
    """

    reports: tuple[EventReport, ...]
    errors: tuple[FeedRowError, ...]
    warnings: tuple[str, ...]
    rows: int


def _cell(row: Mapping[str, object], column: str, *, required: bool = True) -> object:
    value = row.get(column)
    if isinstance(value, str):
        value = value.strip()
    if value in (None, ""):
        if required:
            raise _BadValueError(column, "is required", value)
        return None
    return value


def _int(row: Mapping[str, object], column: str, allowed: Iterable[int] | None = None) -> int:
    raw = _cell(row, column)
    try:
        value = int(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadValueError(column, "must be a whole number", raw)
    choices = None if allowed is None else sorted(allowed)
    if choices is not None and value not in choices:
        raise _BadValueError(column, f"must be one of {', '.join(map(str, choices))}", raw)
    if choices is None and value < 0:
        raise _BadValueError(column, "must be >= 0", raw)
    return value


def _float(
    row: Mapping[str, object], column: str, low: float, high: float, *, required: bool = True
) -> float:
    raw = _cell(row, column, required=required)
    if raw is None:
        return math.nan
    try:
        value = float(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _BadValueError(column, "must be a number", raw)
    if not low <= value <= high:
        raise _BadValueError(column, f"must be in [{low:g}, {high:g}]", raw)
    return float(value)


def _time(row: Mapping[str, object], column: str) -> datetime:
    raw = _cell(row, column)
    try:
        return parse_time(raw, column)
    except EncodingError as e:
        raise _BadValueError(column, "must be an ISO 8601 date or date-time", raw) from e


def _optional_time(row: Mapping[str, object], column: str) -> datetime | None:
    return None if _cell(row, column, required=False) is None else _time(row, column)


def _text(row: Mapping[str, object], column: str, *, required: bool = True) -> str:
    raw = _cell(row, column, required=required)
    if raw is None:
        return ""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str):
        raise _BadValueError(column, "must be a string", raw)
    return raw


def _ordered_time(start: datetime, end: datetime, precision: DatePrecision, end_column: str) -> EventTime:
    if end < start:
        raise _BadValueError(end_column, "must not be before the start", end.isoformat())
    return EventTime(start, end, precision)


def _ucdp_report(row: Mapping[str, object], source: str, cameo: CameoTable | None) -> EventReport:
    violence = _int(row, "type_of_violence", _UCDP_CODES)
    code = _UCDP_CODES[violence]
    return EventReport(
        report_id=_text(row, "id"),
        feed="ucdp",
        source=source,
        time=_ordered_time(
            _time(row, "date_start"),
            _time(row, "date_end"),
            DatePrecision(_int(row, "date_prec", map(int, DatePrecision))),
            "date_end",
        ),
        location=Location(
            _float(row, "latitude", -90.0, 90.0),
            _float(row, "longitude", -180.0, 180.0),
            LocationPrecision(_int(row, "where_prec", map(int, LocationPrecision))),
            _text(row, "where_coordinates", required=False),
        ),
        actors=(_text(row, "side_a"), _text(row, "side_b")),
        event_code=cameo.lookup(code) if cameo is not None else ICEWS_FALLBACK[code],
        confidence=_CLARITY_CONFIDENCE[_int(row, "event_clarity", _CLARITY_CONFIDENCE)],
        fatalities=Fatalities(_int(row, "best"), _int(row, "low"), _int(row, "high")),
        reference=_text(row, "source_article", required=False),
    )


_P = TypeVar("_P", DatePrecision, LocationPrecision)


def _precision(row: Mapping[str, object], column: str, names: Mapping[str, _P], default: _P) -> _P:
    raw = _cell(row, column, required=False)
    if raw is None:
        return default
    kind = type(default)
    if isinstance(raw, str) and raw.lower() in names:
        return names[raw.lower()]
    codes = {str(int(p)): p for p in kind}
    if isinstance(raw, int | str) and not isinstance(raw, bool) and str(raw) in codes:
        return codes[str(raw)]
    allowed = "|".join(names)
    raise _BadValueError(column, f"must be one of {allowed} or a code {min(codes)}-{max(codes)}", raw)


def _widen(moment: datetime, precision: DatePrecision) -> tuple[datetime, datetime]:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if precision is DatePrecision.DAY:
        return moment, moment
    if precision is DatePrecision.DAYS:
        return day - timedelta(days=3), day + timedelta(days=3)
    if precision is DatePrecision.WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if precision is DatePrecision.MONTH:
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return day.replace(month=1, day=1), day.replace(month=12, day=31)


def _generic_time(row: Mapping[str, object]) -> EventTime:
    precision = _precision(row, "date_precision", _DATE_NAMES, DatePrecision.DAY)
    single = _optional_time(row, "time")
    if single is not None:
        if _cell(row, "time_start", required=False) is not None:
            raise _BadValueError("time_start", "must be empty when 'time' is given", row.get("time_start"))
        return EventTime(*_widen(single, precision), precision)
    start = _time(row, "time_start")
    end = _optional_time(row, "time_end") or start
    return _ordered_time(start, end, precision, "time_end")


def _actor_list(row: Mapping[str, object]) -> tuple[str, ...]:
    raw = _cell(row, "actors")
    items = raw.split(";") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(a, str) and a.strip() for a in items):
        raise _BadValueError(
            "actors", "must be actor names separated by ';' (or a JSON list), none empty", raw
        )
    return tuple(a.strip() for a in items)


def _generic_code(row: Mapping[str, object], cameo: CameoTable | None) -> EventCode | None:
    code = _cell(row, "cameo_code", required=False)
    weight = _float(row, "goldstein", -10.0, 10.0, required=cameo is None and code is not None)
    if code is None:
        if not math.isnan(weight):
            raise _BadValueError("cameo_code", "is required when 'goldstein' is given", code)
        return None
    text = str(code)
    if not (text.isascii() and text.isdigit() and 2 <= len(text) <= 4):
        raise _BadValueError("cameo_code", "must be a CAMEO code of 2-4 digits", code)
    if cameo is None:
        return EventCode(text, weight)
    try:
        entry = cameo.lookup(text)
    except NotFoundError as e:
        raise _BadValueError("cameo_code", f"must be a code of the {cameo.name} table", code) from e
    if not math.isnan(weight) and weight != entry.goldstein:
        rule = f"must equal the {cameo.name} table's {entry.goldstein:g} for code {text}"
        raise _BadValueError("goldstein", rule, row.get("goldstein"))
    return entry


def _generic_fatalities(row: Mapping[str, object]) -> Fatalities | None:
    if _cell(row, "fatalities_best", required=False) is None:
        for column in ("fatalities_low", "fatalities_high"):
            if _cell(row, column, required=False) is not None:
                raise _BadValueError("fatalities_best", f"is required when '{column}' is given", None)
        return None
    best = _int(row, "fatalities_best")
    low = _int(row, "fatalities_low") if _cell(row, "fatalities_low", required=False) is not None else best
    high = _int(row, "fatalities_high") if _cell(row, "fatalities_high", required=False) is not None else best
    if not low <= best <= high:
        raise _BadValueError("fatalities_best", "must satisfy low <= best <= high", (low, best, high))
    return Fatalities(best, low, high)


def _generic_report(row: Mapping[str, object], cameo: CameoTable | None) -> EventReport:
    unknown = sorted(set(row) - GENERIC_COLUMNS)
    if unknown:
        raise _BadValueError(unknown[0], "unknown column", row[unknown[0]])
    confidence = _float(row, "confidence", 0.0, 1.0, required=False)
    return EventReport(
        report_id=_text(row, "report_id"),
        feed="generic",
        source=_text(row, "source"),
        time=_generic_time(row),
        location=Location(
            _float(row, "latitude", -90.0, 90.0),
            _float(row, "longitude", -180.0, 180.0),
            _precision(row, "location_precision", _PLACE_NAMES, LocationPrecision.EXACT),
            _text(row, "location_name", required=False),
        ),
        actors=_actor_list(row),
        event_code=_generic_code(row, cameo),
        confidence=1.0 if math.isnan(confidence) else confidence,
        fatalities=_generic_fatalities(row),
        reference=_text(row, "reference", required=False),
    )


def parse_rows(  # noqa: PLR0913 - each option is a separate, documented choice
    rows: Sequence[Mapping[str, object]],
    feed_format: FeedFormat,
    *,
    where: str = "feed",
    source: str = "UCDP GED",
    cameo: CameoTable | None = None,
    collect_errors: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Turn parsed rows (CSV dicts or JSON objects) into reports.

    Args:
        rows: One mapping per row, column -> cell (text, or a JSON number/list).
        feed_format: ``"ucdp"`` or ``"generic"``.
        where: The file name used in errors.
        source: The source name for UCDP rows (the generic format names its own).
        cameo: A CAMEO table to look codes up in (see the module docstring).
        collect_errors: Skip bad rows and report them instead of raising on the first.
        progress: Called with the number of rows done after each row.

    Returns:
        The reports, errors and warnings.

    Raises:
        FeedRowError: a bad row, when not collecting errors.
    """
    build: Callable[[Mapping[str, object]], EventReport]
    if feed_format == "ucdp":
        build = lambda row: _ucdp_report(row, source, cameo)  # noqa: E731 - a one-line adapter
    else:
        build = lambda row: _generic_report(row, cameo)  # noqa: E731 - a one-line adapter
    reports: list[EventReport] = []
    errors: list[FeedRowError] = []
    warnings: list[str] = []
    for number, row in enumerate(rows, start=1):
        try:
            report = build(row)
        except _BadValueError as e:
            error = FeedRowError(where, number, e.column, e.rule)
            if not collect_errors:
                raise error from e
            errors.append(error)
        else:
            reports.append(report)
            if report.fatalities is not None and not report.fatalities.ordered:
                f = report.fatalities
                warnings.append(
                    f"{where} row {number}: deaths not ordered low {f.low} best {f.best} high {f.high}"
                )
        if progress is not None:
            progress(number)
    return ImportResult(tuple(reports), tuple(errors), tuple(warnings), len(rows))


def load_rows(path: Path) -> list[Mapping[str, object]]:
    """Read a ``.csv`` file (header row) or a ``.json`` file (a list, or ``{"events": [...]}``).

    Args:
        path: The file.

    Returns:
        One mapping per record.

    Raises:
        NotFoundError: no such file.
        EncodingError: not UTF-8, malformed JSON, or JSON of the wrong shape.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise NotFoundError(f"feed file {path}: no such file") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise EncodingError(f"{path}: not valid UTF-8 at byte {e.start}") from e
    if path.suffix.lower() != ".json":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise EncodingError(f"{path}: malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    items = value.get("events") if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise EncodingError(f"{path}: must hold a list of objects, or {{'events': [objects]}}")
    return items


def _check_header(rows: Sequence[Mapping[str, object]], feed_format: FeedFormat, where: str) -> None:
    if feed_format != "ucdp" or not rows:
        return
    missing = [column for column in UCDP_COLUMNS if column not in rows[0]]
    if missing:
        raise FeedRowError(where, 0, missing[0], f"missing UCDP column(s): {', '.join(missing)}")


def read_feed(  # noqa: PLR0913 - each option is a separate, documented choice
    path: Path,
    feed_format: FeedFormat,
    *,
    source: str = "UCDP GED",
    cameo: CameoTable | None = None,
    collect_errors: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Read a feed file into reports (see the module docstring for the formats).

    Args:
        path: A ``.csv`` or ``.json`` file.
        feed_format: ``"ucdp"`` or ``"generic"``.
        source: The source name for UCDP rows.
        cameo: A CAMEO table to look codes up in.
        collect_errors: Skip bad rows and report them instead of raising on the first.
        progress: Called with (rows done, rows in the file) after each row.

    Returns:
        The reports, errors and warnings.

    Raises:
        FeedRowError: a bad row (when not collecting) or a missing UCDP column (always).
        NotFoundError: no such file.
        EncodingError: the file is not UTF-8 or not JSON of the right shape.
    """
    if feed_format not in FORMATS:
        raise EncodingError(f"format: must be one of {', '.join(FORMATS)} (got {feed_format!r})")
    rows = load_rows(path)
    _check_header(rows, feed_format, path.name)
    total = len(rows)
    return parse_rows(
        rows,
        feed_format,
        where=path.name,
        source=source,
        cameo=cameo,
        collect_errors=collect_errors,
        progress=None if progress is None else (lambda done: progress(done, total)),
    )
