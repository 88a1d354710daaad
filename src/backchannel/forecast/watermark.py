"""Input watermarks, the forecast envelope and staleness.

Every forecast records its :class:`Watermark`: the digests of the feed items
it read, the latest event time among them, how many items the feed store held
and when it was recorded. :class:`Forecast` wraps any model output (its
``payload``) with a name, a creation time and a watermark; it is never shown
without its age (:meth:`Forecast.to_dict` and :meth:`Forecast.describe` need
``now``).

:func:`staleness` decides whether newer input makes a forecast stale (ADR-0036):
an item is *new* when its digest is not in the watermark, and *relevant* when
it lies within ``radius_km`` of the venue (with a precise enough location,
as :class:`~backchannel.forecast.radius.PrecisionRule` says) or names one of
the track's actors. The first relevant new item, in the order given (the
order of arrival), is the one that made the forecast stale. The result is a
:class:`Staleness` with ``__bool__``: true when stale.

This module is pure: it reads no clock and no store (pass ``now`` and the
items that arrived after the watermark, e.g. ``store.reports(after=watermark.store_size)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from backchannel.errors import EncodingError
from backchannel.forecast.events import EventReport, parse_time
from backchannel.forecast.fusion import FusedEvent
from backchannel.forecast.geo import haversine_km
from backchannel.forecast.radius import DEFAULT_RADIUS_KM, PrecisionRule, Venue
from backchannel.log.canonical import JSONValue

__all__ = ["Forecast", "Staleness", "Watermark", "format_age", "staleness"]

P = TypeVar("P")


def format_age(age: timedelta) -> str:
    """An age for people: ``"45 s"``, ``"12 min"``, ``"5 h 3 min"``, ``"3 d 4 h"``."""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@dataclass(frozen=True)
class Watermark:
    """What a forecast read, and up to when.

    Attributes:
        items: The digests of the feed items it read.
        through: The latest event time (interval end) among them (None: no items).
        store_size: How many items the feed store held when it read them.
        recorded_at: When the watermark was taken (the forecast's creation time).
    """

    items: frozenset[str]
    through: datetime | None
    store_size: int
    recorded_at: datetime

    @classmethod
    def of(
        cls, items: Iterable[EventReport | FusedEvent], recorded_at: datetime, store_size: int = 0
    ) -> Watermark:
        """The watermark of a forecast that read ``items``.

        Args:
            items: The reports read, or fused events (each stands for all its reports).
            recorded_at: When (aware UTC).
            store_size: How many items the store held.

        Returns:
            The watermark.
        """
        read = [r for item in items for r in (item.reports if isinstance(item, FusedEvent) else (item,))]
        through = max((r.time.end for r in read), default=None)
        return cls(frozenset(r.digest() for r in read), through, store_size, recorded_at)

    def to_dict(self) -> dict[str, JSONValue]:
        """The watermark as JSON (digests sorted)."""
        return {
            "items": sorted(self.items),
            "through": None if self.through is None else self.through.isoformat(),
            "store_size": self.store_size,
            "recorded_at": self.recorded_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: object, path: str = "watermark") -> Watermark:
        """Read a watermark written by :meth:`to_dict`, naming the bad field on error."""
        if not isinstance(data, Mapping):
            raise EncodingError(f"{path}: must be an object (got {type(data).__name__})")
        items = data.get("items")
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise EncodingError(f"{path}.items: must be a list of digest strings (got {items!r})")
        size = data.get("store_size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise EncodingError(f"{path}.store_size: must be a whole number >= 0 (got {size!r})")
        through = data.get("through")
        return cls(
            frozenset(items),
            None if through is None else parse_time(through, f"{path}.through"),
            size,
            parse_time(data.get("recorded_at"), f"{path}.recorded_at"),
        )


@dataclass(frozen=True)
class Forecast(Generic[P]):
    """Any forecast, with its name, creation time and input watermark.

    Attributes:
        name: What is forecast (e.g. ``"issue 3: compromise model"``).
        created_at: When it was computed (aware UTC).
        watermark: The input it was computed from.
        payload: The model's output (JSON, or anything with an ``encode`` for :meth:`to_dict`).
    """

    name: str
    created_at: datetime
    watermark: Watermark
    payload: P

    def age(self, now: datetime) -> timedelta:
        """How old the forecast is at ``now``."""
        return now - self.created_at

    def describe(self, now: datetime) -> str:
        """One line for people, always with the age, e.g. ``"compromise (computed 3 h 2 min ago)"``."""
        return f"{self.name} (computed {format_age(self.age(now))} ago)"

    def to_dict(self, now: datetime, encode: Callable[[P], JSONValue] | None = None) -> dict[str, JSONValue]:
        """The forecast as JSON, with ``age_seconds`` at ``now`` (a forecast never travels without its age).

        Args:
            now: The time the age is taken at.
            encode: Turns the payload into JSON (default: the payload already is JSON).

        Returns:
            ``{"name", "created_at", "age_seconds", "watermark", "payload"}``.
        """
        payload: Any = self.payload if encode is None else encode(self.payload)
        return {
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "age_seconds": self.age(now).total_seconds(),
            "watermark": self.watermark.to_dict(),
            "payload": payload,
        }

    @classmethod
    def from_dict(cls, data: object) -> Forecast[JSONValue]:
        """Read a forecast written by :meth:`to_dict` (the payload stays JSON; ``age_seconds`` is ignored)."""
        if not isinstance(data, Mapping):
            raise EncodingError(f"forecast: must be an object (got {type(data).__name__})")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise EncodingError(f"forecast.name: must be a non-empty string (got {name!r})")
        return Forecast(
            name,
            parse_time(data.get("created_at"), "forecast.created_at"),
            Watermark.from_dict(data.get("watermark"), "forecast.watermark"),
            data.get("payload"),
        )


@dataclass(frozen=True)
class Staleness:
    """Whether newer input makes a forecast stale.

    Attributes:
        age: The forecast's age at the time asked.
        cause: The first relevant new item (None: not stale).
        reason: Why ``cause`` is relevant: ``"within N km of the venue"`` or ``"about ACTOR"``.
        causes: Every relevant new item, in the order given.
    """

    age: timedelta
    cause: EventReport | None = None
    reason: str = ""
    causes: tuple[EventReport, ...] = field(default=())

    def __bool__(self) -> bool:
        """True when the forecast is stale."""
        return self.cause is not None

    def describe(self) -> str:
        """One line for people, with the age and, when stale, the item that made it so."""
        age = format_age(self.age)
        if self.cause is None:
            return f"current (age {age})"
        c = self.cause
        more = f" and {len(self.causes) - 1} more" if len(self.causes) > 1 else ""
        item = f"{c.source} report {c.report_id} of {c.time.start.date()}"
        return f"STALE (age {age}): {item}, {self.reason}{more}"

    def to_dict(self) -> dict[str, JSONValue]:
        """The verdict as JSON."""
        return {
            "stale": bool(self),
            "age_seconds": self.age.total_seconds(),
            "cause": None if self.cause is None else {**self.cause.to_dict(), "digest": self.cause.digest()},
            "reason": self.reason,
            "causes": [c.digest() for c in self.causes],
        }


def _relevance(
    item: EventReport, venue: Venue, radius_km: float, actors: frozenset[str], rule: PrecisionRule
) -> str:
    loc = item.location
    if loc.precision <= rule.max_location_precision:
        distance = float(haversine_km(venue.latitude, venue.longitude, loc.latitude, loc.longitude))
        if distance <= radius_km:
            return f"within {radius_km:g} km of the venue ({distance:.0f} km)"
    named = sorted(item.actor_key & actors)
    return f"about {named[0]}" if named else ""


def staleness(  # noqa: PLR0913, PLR0917 - every input is explicit (a pure function)
    forecast_watermark: Watermark,
    new_items: Iterable[EventReport],
    now: datetime,
    venue: Venue,
    radius_km: float = DEFAULT_RADIUS_KM,
    actors: Iterable[str] = (),
    rule: PrecisionRule | None = None,
) -> Staleness:
    """Whether newer relevant input makes a forecast stale (the rule is in the module docstring).

    Args:
        forecast_watermark: The forecast's watermark.
        new_items: Items that arrived since, in arrival order (items already in the watermark are skipped).
        now: The time the age is taken at.
        venue: The track's venue.
        radius_km: The radius that makes an item relevant.
        actors: The track's actors (an item naming one is relevant wherever it is).
        rule: The location precision an item needs to count as within the radius.

    Returns:
        The verdict; true (stale) when some new item is relevant.

    Raises:
        EncodingError: ``radius_km`` is not a number > 0.
    """
    if not (math.isfinite(radius_km) and radius_km > 0):
        raise EncodingError(f"radius_km: must be a number > 0 (got {radius_km!r})")
    rule = rule or PrecisionRule()
    wanted = frozenset(" ".join(a.split()).casefold() for a in actors)
    causes: list[EventReport] = []
    first_reason = ""
    for item in new_items:
        if item.digest() in forecast_watermark.items:
            continue
        reason = _relevance(item, venue, radius_km, wanted, rule)
        if reason:
            first_reason = first_reason or reason
            causes.append(item)
    age = now - forecast_watermark.recorded_at
    return Staleness(age, causes[0] if causes else None, first_reason, tuple(causes))
