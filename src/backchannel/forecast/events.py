"""The event record of the intelligence feeds: one report of one event, by one source.

An :class:`EventReport` says *when* (an :class:`EventTime` interval with a
:class:`DatePrecision`), *where* (a :class:`Location` with a
:class:`LocationPrecision`), *who* (the actors), *what* (a CAMEO
:class:`EventCode` with its Goldstein weight), *how bad* (:class:`Fatalities`
best/low/high, where known), and *says who* (the source, a reference and the
source's confidence in the report). Every type is a frozen dataclass that
validates itself on construction and converts to and from plain JSON with
``to_dict``/``from_dict``; a malformed value raises
:class:`~backchannel.errors.EncodingError` naming the field path and the rule.

The precision codes are UCDP GED's (``date_prec`` 1-5, ``where_prec`` 1-7;
see ``../shared/data/README.md``); the generic format may also name them
(``day``, ``month``, ``adm1`` ...). :data:`LOCATION_UNCERTAINTY_KM` and
:data:`DATE_UNCERTAINTY_DAYS` turn a code into a distance or a duration: they
are this project's reading of the UCDP codebook (ADR-0035), not UCDP's.

A report's :meth:`EventReport.digest` is the SHA-256 of its RFC 8785 canonical
JSON: two reports with the same digest are the same report, whatever the file
they came from.

This module does not read files (see :mod:`backchannel.forecast.feeds`),
merge reports (see :mod:`backchannel.forecast.fusion`) or look CAMEO codes up
(see :mod:`backchannel.forecast.cameo`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from backchannel.errors import EncodingError
from backchannel.log.canonical import JSONValue, canonicalize

__all__ = [
    "DATE_UNCERTAINTY_DAYS",
    "LOCATION_UNCERTAINTY_KM",
    "DatePrecision",
    "EventCode",
    "EventReport",
    "EventTime",
    "Fatalities",
    "Location",
    "LocationPrecision",
    "canonical_json",
    "parse_time",
]


class DatePrecision(IntEnum):
    """How well the date of an event is known (UCDP GED ``date_prec``)."""

    DAY = 1
    """The exact day."""
    DAYS = 2
    """Within two to six days."""
    WEEK = 3
    """Only the week."""
    MONTH = 4
    """Within 8-30 days, or only the month."""
    YEAR = 5
    """Within 31-365 days, or only the year."""


class LocationPrecision(IntEnum):
    """How well the place of an event is known (UCDP GED ``where_prec``)."""

    EXACT = 1
    """The exact place."""
    NEAR = 2
    """Within about 25 km of a known point."""
    ADM2 = 3
    """Only the second-order administrative division."""
    ADM1 = 4
    """Only the first-order administrative division."""
    REGION = 5
    """A larger area: a part of the country, a road between places."""
    COUNTRY_WATERS = 6
    """Only the country (or its waters or airspace)."""
    COUNTRY = 7
    """Only the country."""


DATE_UNCERTAINTY_DAYS: Mapping[DatePrecision, int] = {
    DatePrecision.DAY: 0,
    DatePrecision.DAYS: 6,
    DatePrecision.WEEK: 7,
    DatePrecision.MONTH: 30,
    DatePrecision.YEAR: 365,
}
"""The widest span, in days, that a date precision code allows."""

LOCATION_UNCERTAINTY_KM: Mapping[LocationPrecision, float] = {
    LocationPrecision.EXACT: 0.0,
    LocationPrecision.NEAR: 25.0,
    LocationPrecision.ADM2: 50.0,
    LocationPrecision.ADM1: 150.0,
    LocationPrecision.REGION: 300.0,
    LocationPrecision.COUNTRY_WATERS: 500.0,
    LocationPrecision.COUNTRY: 500.0,
}
"""How far, in km, the true place may be from the coordinates, by precision code."""


_encode_string = json.encoder.encode_basestring


def _number(value: float) -> str:
    """A number as RFC 8785 writes it; the common ranges without the reference encoder."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    if 1e-4 <= abs(value) < 1e16:  # fixed notation in both Python's repr and ECMAScript
        return repr(value)
    return canonicalize(value).decode("ascii")


def canonical_json(value: JSONValue) -> str:
    """RFC 8785 canonical JSON of a report-shaped value (ASCII keys), faster than the general encoder.

    Byte for byte what :func:`backchannel.log.canonical.canonicalize` returns for the
    same value (a property test pins it); object keys must be ASCII, as every key of
    :meth:`EventReport.to_dict` is, so sorting by code point is sorting by UTF-16 unit.

    Args:
        value: A JSON value whose object keys are ASCII.

    Returns:
        The canonical text.

    Raises:
        EncodingError: a non-finite float or a value JSON cannot hold.
    """
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, str):
        return str(_encode_string(value))
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise EncodingError(f"not representable in canonical JSON: {value!r}")
        return _number(value)
    if isinstance(value, Mapping):
        items = sorted(value.items())
        return "{" + ",".join(f"{_encode_string(k)}:{canonical_json(v)}" for k, v in items) + "}"
    return "[" + ",".join(canonical_json(v) for v in value) + "]"


def _fail(path: str, rule: str, got: object) -> EncodingError:
    return EncodingError(f"{path}: {rule} (got {got!r})")


def parse_time(value: object, path: str) -> datetime:
    """Read an ISO 8601 date or date-time as an aware UTC datetime.

    A date alone is midnight UTC; a date-time without an offset is UTC.

    Args:
        value: The text, e.g. ``2014-01-05`` or ``2014-01-05T10:00:00+01:00``.
        path: The field path named in an error.

    Returns:
        The time, converted to UTC.

    Raises:
        EncodingError: not a string, or not an ISO 8601 date or date-time.
    """
    if not isinstance(value, str):
        raise _fail(path, "must be an ISO 8601 date or date-time string", value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as e:
        raise _fail(path, "must be an ISO 8601 date or date-time", value) from e
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _field(data: Mapping[str, Any], key: str, path: str) -> Any:  # noqa: ANN401 - JSON of unknown shape
    if key not in data:
        raise EncodingError(f"{path}.{key}: is required")
    return data[key]


def _check_keys(data: object, allowed: frozenset[str], path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(path, "must be an object", type(data).__name__)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise EncodingError(f"{path}.{unknown[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")
    return data


def _finite(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, "must be a finite number", value)
    return float(value)


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, "must be a whole number >= 0", value)
    return value


def _text(value: object, path: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _fail(path, "must be a non-empty string" if not empty else "must be a string", value)
    return value


@dataclass(frozen=True, slots=True)
class EventTime:
    """When an event happened: an interval of UTC times and how precisely it is known.

    Attributes:
        start: The earliest time the event may have happened (aware UTC).
        end: The latest; equal to ``start`` for a known instant or day.
        precision: The UCDP date precision code.
    """

    start: datetime
    end: datetime
    precision: DatePrecision = DatePrecision.DAY

    def __post_init__(self) -> None:
        """Check that the times are aware and ordered."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise EncodingError("time: start and end must be timezone-aware (UTC)")
        if self.end < self.start:
            raise _fail("time.end", f"must not be before time.start {_utc_text(self.start)}", self.end)
        object.__setattr__(self, "precision", DatePrecision(self.precision))

    @property
    def midpoint(self) -> datetime:
        """The middle of the interval: the event's time for counting in windows."""
        return self.start + (self.end - self.start) / 2

    def to_dict(self) -> dict[str, JSONValue]:
        """The time as JSON: ``{"start", "end", "precision"}`` (UTC ``...Z`` strings)."""
        return {"start": _utc_text(self.start), "end": _utc_text(self.end), "precision": int(self.precision)}

    @classmethod
    def from_dict(cls, data: object, path: str = "time") -> EventTime:
        """Read a time written by :meth:`to_dict`, naming the bad field on error."""
        obj = _check_keys(data, frozenset({"start", "end", "precision"}), path)
        precision = _field(obj, "precision", path)
        if precision not in {int(p) for p in DatePrecision} or isinstance(precision, bool):
            raise _fail(f"{path}.precision", "must be a date precision code 1-5", precision)
        return cls(
            parse_time(_field(obj, "start", path), f"{path}.start"),
            parse_time(_field(obj, "end", path), f"{path}.end"),
            DatePrecision(precision),
        )


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happened.

    Attributes:
        latitude: Degrees north, -90..90.
        longitude: Degrees east, -180..180.
        precision: The UCDP location precision code.
        name: A place name, if the feed gives one ("" otherwise).
    """

    latitude: float
    longitude: float
    precision: LocationPrecision = LocationPrecision.EXACT
    name: str = ""

    def __post_init__(self) -> None:
        """Check the coordinates' ranges."""
        if not (math.isfinite(self.latitude) and -90.0 <= self.latitude <= 90.0):
            raise _fail("location.latitude", "must be a number in [-90, 90]", self.latitude)
        if not (math.isfinite(self.longitude) and -180.0 <= self.longitude <= 180.0):
            raise _fail("location.longitude", "must be a number in [-180, 180]", self.longitude)
        object.__setattr__(self, "precision", LocationPrecision(self.precision))

    @property
    def uncertainty_km(self) -> float:
        """How far the true place may be from the coordinates (:data:`LOCATION_UNCERTAINTY_KM`)."""
        return LOCATION_UNCERTAINTY_KM[self.precision]

    def to_dict(self) -> dict[str, JSONValue]:
        """The location as JSON."""
        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "precision": int(self.precision),
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: object, path: str = "location") -> Location:
        """Read a location written by :meth:`to_dict`, naming the bad field on error."""
        obj = _check_keys(data, frozenset({"latitude", "longitude", "precision", "name"}), path)
        precision = _field(obj, "precision", path)
        if precision not in {int(p) for p in LocationPrecision} or isinstance(precision, bool):
            raise _fail(f"{path}.precision", "must be a location precision code 1-7", precision)
        return cls(
            _finite(_field(obj, "latitude", path), f"{path}.latitude"),
            _finite(_field(obj, "longitude", path), f"{path}.longitude"),
            LocationPrecision(precision),
            _text(obj.get("name", ""), f"{path}.name", empty=True),
        )


@dataclass(frozen=True, slots=True)
class Fatalities:
    """Deaths in an event: the best estimate and a low and high bound.

    UCDP's own data has a few rows where ``low <= best <= high`` does not hold;
    they are kept as reported and :attr:`ordered` is ``False`` for them.

    Attributes:
        best: The best estimate.
        low: The lowest plausible count.
        high: The highest plausible count.
    """

    best: int
    low: int
    high: int

    def __post_init__(self) -> None:
        """Check that every count is a whole number >= 0."""
        for name in ("best", "low", "high"):
            _count(getattr(self, name), f"fatalities.{name}")

    @property
    def ordered(self) -> bool:
        """Whether ``low <= best <= high``."""
        return self.low <= self.best <= self.high

    def to_dict(self) -> dict[str, JSONValue]:
        """The counts as JSON."""
        return {"best": self.best, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: object, path: str = "fatalities") -> Fatalities:
        """Read counts written by :meth:`to_dict`, naming the bad field on error."""
        obj = _check_keys(data, frozenset({"best", "low", "high"}), path)
        return cls(
            _count(_field(obj, "best", path), f"{path}.best"),
            _count(_field(obj, "low", path), f"{path}.low"),
            _count(_field(obj, "high", path), f"{path}.high"),
        )


@dataclass(frozen=True, slots=True)
class EventCode:
    """A CAMEO event code with its name and Goldstein weight.

    Attributes:
        code: Two to four digits, e.g. ``"190"``.
        goldstein: The Goldstein (1992) weight, -10 (conflict) to +10 (cooperation).
        name: The code's name in the table it came from ("" if not known).
    """

    code: str
    goldstein: float
    name: str = ""

    def __post_init__(self) -> None:
        """Check the code's shape and the weight's range."""
        if not (self.code.isascii() and self.code.isdigit()):
            raise _fail("event_code.code", "must be a CAMEO code of 2-4 digits", self.code)
        if not 2 <= len(self.code) <= 4:
            raise _fail("event_code.code", "must be a CAMEO code of 2-4 digits", self.code)
        if not (math.isfinite(self.goldstein) and -10.0 <= self.goldstein <= 10.0):
            raise _fail("event_code.goldstein", "must be a number in [-10, 10]", self.goldstein)

    @property
    def root(self) -> str:
        """The two-digit root code (the CAMEO family, e.g. ``"19"`` fight)."""
        return self.code[:2]

    def to_dict(self) -> dict[str, JSONValue]:
        """The code as JSON."""
        return {"code": self.code, "goldstein": self.goldstein, "name": self.name}

    @classmethod
    def from_dict(cls, data: object, path: str = "event_code") -> EventCode:
        """Read a code written by :meth:`to_dict`, naming the bad field on error."""
        obj = _check_keys(data, frozenset({"code", "goldstein", "name"}), path)
        return cls(
            _text(_field(obj, "code", path), f"{path}.code"),
            _finite(_field(obj, "goldstein", path), f"{path}.goldstein"),
            _text(obj.get("name", ""), f"{path}.name", empty=True),
        )


def _actors(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _fail(path, "must be a non-empty list of actor names", value)
    return tuple(_text(item, f"{path}[{n}]").strip() for n, item in enumerate(value))


_REPORT_KEYS = frozenset(
    {
        "report_id",
        "feed",
        "source",
        "time",
        "location",
        "actors",
        "event_code",
        "confidence",
        "fatalities",
        "reference",
    }
)


@dataclass(frozen=True)
class EventReport:
    """One source's report of one event.

    Attributes:
        report_id: The feed's id of the item (e.g. UCDP's ``id``), unique within (feed, source).
        feed: The format it came in (``"ucdp"``, ``"generic"``).
        source: Who reports it; the key of the analyst's reliability table.
        time: When it happened.
        location: Where it happened.
        actors: Who took part, as named by the feed (e.g. UCDP's side_a, side_b).
        event_code: The CAMEO code with its Goldstein weight, if the feed codes events.
        confidence: The source's confidence in this report, 0..1.
        fatalities: Deaths, if known.
        reference: A citation (article, URL) for the report ("" if none).
    """

    report_id: str
    feed: str
    source: str
    time: EventTime
    location: Location
    actors: tuple[str, ...]
    event_code: EventCode | None = None
    confidence: float = 1.0
    fatalities: Fatalities | None = None
    reference: str = ""
    _digest: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the ids, actors and confidence."""
        _text(self.report_id, "report_id")
        _text(self.feed, "feed")
        _text(self.source, "source")
        object.__setattr__(self, "actors", _actors(self.actors, "actors"))
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise _fail("confidence", "must be a number in [0, 1]", self.confidence)

    @property
    def actor_key(self) -> frozenset[str]:
        """The actors as compared for fusion: case-folded, whitespace-collapsed, unordered."""
        return frozenset(" ".join(a.split()).casefold() for a in self.actors)

    def digest(self) -> str:
        """The SHA-256 (hex) of the report's RFC 8785 canonical JSON; computed once."""
        if not self._digest:
            text = self.canonical().encode("utf-8")
            object.__setattr__(self, "_digest", hashlib.sha256(text).hexdigest())
        return self._digest

    def canonical(self) -> str:
        """The RFC 8785 canonical JSON of :meth:`to_dict`, written directly (the hashed and stored form).

        The same text as ``canonical_json(self.to_dict())`` (a property test pins both
        against :func:`backchannel.log.canonical.canonicalize`), several times faster.
        """
        e, t, loc, c, f = _encode_string, self.time, self.location, self.event_code, self.fatalities
        code = "null"
        if c is not None:
            code = f'{{"code":{e(c.code)},"goldstein":{_number(c.goldstein)},"name":{e(c.name)}}}'
        deaths = "null" if f is None else f'{{"best":{f.best},"high":{f.high},"low":{f.low}}}'
        place = (
            f'{{"latitude":{_number(loc.latitude)},"longitude":{_number(loc.longitude)},'
            f'"name":{e(loc.name)},"precision":{int(loc.precision)}}}'
        )
        when = (
            f'{{"end":{e(_utc_text(t.end))},"precision":{int(t.precision)},"start":{e(_utc_text(t.start))}}}'
        )
        return (
            f'{{"actors":[{",".join(e(a) for a in self.actors)}],"confidence":{_number(self.confidence)},'
            f'"event_code":{code},"fatalities":{deaths},"feed":{e(self.feed)},"location":{place},'
            f'"reference":{e(self.reference)},"report_id":{e(self.report_id)},"source":{e(self.source)},'
            f'"time":{when}}}'
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The report as JSON (the form that is hashed and stored)."""
        return {
            "report_id": self.report_id,
            "feed": self.feed,
            "source": self.source,
            "time": self.time.to_dict(),
            "location": self.location.to_dict(),
            "actors": list(self.actors),
            "event_code": None if self.event_code is None else self.event_code.to_dict(),
            "confidence": self.confidence,
            "fatalities": None if self.fatalities is None else self.fatalities.to_dict(),
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, data: object, path: str = "report") -> EventReport:
        """Read a report written by :meth:`to_dict`.

        Args:
            data: The JSON object.
            path: The path named in errors.

        Returns:
            The report.

        Raises:
            EncodingError: a field is missing, unknown, of the wrong type or out of range;
                the message names the field path and the rule.
        """
        obj = _check_keys(data, _REPORT_KEYS, path)
        code = obj.get("event_code")
        deaths = obj.get("fatalities")
        return cls(
            report_id=_text(_field(obj, "report_id", path), f"{path}.report_id"),
            feed=_text(_field(obj, "feed", path), f"{path}.feed"),
            source=_text(_field(obj, "source", path), f"{path}.source"),
            time=EventTime.from_dict(_field(obj, "time", path), f"{path}.time"),
            location=Location.from_dict(_field(obj, "location", path), f"{path}.location"),
            actors=_actors(_field(obj, "actors", path), f"{path}.actors"),
            event_code=None if code is None else EventCode.from_dict(code, f"{path}.event_code"),
            confidence=_finite(obj.get("confidence", 1.0), f"{path}.confidence"),
            fatalities=None if deaths is None else Fatalities.from_dict(deaths, f"{path}.fatalities"),
            reference=_text(obj.get("reference", ""), f"{path}.reference", empty=True),
        )
