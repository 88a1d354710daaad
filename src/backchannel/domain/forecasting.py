"""Forecasts on a live track: declared actor positions, recorded forecasts, shares (issue #10 item 8).

The value types the ``forecasts`` feature's commands and events carry, and
:class:`ForecastBook`, the part of a track's state they build:

- :class:`ActorPosition` / :class:`IssuePositions`: what the mediator declares
  per agenda issue: each actor's position (0-100 on the issue's scale, or a
  ``value`` in a number issue's units that the feature maps to 0-100), its
  salience (0-100) and capability (>= 0), and the issue's reference point;
- :class:`ModelAnswer` / :class:`IssueForecast`: every model's answer on one
  issue, the spread among the bargaining models and the threshold above which
  the forecast is flagged "models disagree" (:attr:`IssueForecast.flagged`);
- :class:`ForecastBook`: the declarations in log order, the positions in force
  per issue, and every recorded forecast with the parties it was shared with.
  :meth:`ForecastBook.stale_cause` names the first later declaration that
  touches an issue of a forecast (a forecast is stale from then on).

This module is pure and small: it runs no model (the service does, with
:mod:`backchannel.forecast`), decides nothing (see
:mod:`backchannel.domain.features.forecasts`) and reads no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Annotated, Final, TypeAlias

from backchannel.domain.codec import Checked, Text
from backchannel.domain.errors import Violation
from backchannel.domain.ids import MemberId

__all__ = [
    "EMPTY_FORECASTS",
    "MAX_ACTORS",
    "MAX_FORECAST_ISSUES",
    "MAX_MODELS",
    "ActorName",
    "ActorPosition",
    "Declaration",
    "ForecastBook",
    "ForecastRecord",
    "IssueForecast",
    "IssueName",
    "IssuePositions",
    "ModelAnswer",
    "check_actor",
    "in_range",
]

MAX_ACTORS: Final = 64
"""At most this many actors per issue in one declaration."""
MAX_FORECAST_ISSUES: Final = 200
"""At most this many issues per declaration or forecast (the agenda's own limit)."""
MAX_MODELS: Final = 32
"""At most this many model answers per issue."""

_ACTOR = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_MODEL = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ISSUE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def check_actor(value: object, field: str = "actor") -> list[Violation]:
    """Violations of an actor name (``[a-z0-9][a-z0-9_.-]{0,63}``; empty when valid)."""
    if not isinstance(value, str) or not _ACTOR.fullmatch(value):
        return [
            Violation(field, "pattern", f"{field}: {value!r:.80} does not match [a-z0-9][a-z0-9_.-]{{0,63}}")
        ]
    return []


def _check_model(value: object, field: str = "model") -> list[Violation]:
    if not isinstance(value, str) or not _MODEL.fullmatch(value):
        return [Violation(field, "pattern", f"{field}: {value!r:.80} does not match [a-z][a-z0-9_]{{0,63}}")]
    return []


def _check_issue(value: object, field: str = "issue") -> list[Violation]:
    if not isinstance(value, str) or not _ISSUE.fullmatch(value):
        return [Violation(field, "pattern", f"{field}: {value!r:.80} is not an issue name")]
    return []


def _sized(values: object, maximum: int) -> bool:
    return isinstance(values, tuple) and 0 < len(values) <= maximum


ActorName: TypeAlias = Annotated[str, Checked(check_actor, Text(64))]
"""An actor field (:func:`check_actor`)."""
IssueName: TypeAlias = Annotated[str, Checked(_check_issue, Text(64))]
"""An agenda issue's name."""
ModelName: TypeAlias = Annotated[str, Checked(_check_model, Text(64))]
"""A model's name (``compromise``, ``nash_worst``...)."""


def in_range(value: object, field: str, low: float, high: float) -> list[Violation]:
    """Violations of a finite number in ``[low, high]`` (empty when it is one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return [Violation(field, "type", f"{field}: expected a finite number, got {value!r:.80}")]
    if not low <= value <= high:
        return [Violation(field, "range", f"{field}: must be in [{low:g}, {high:g}] (got {value:g})")]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorPosition:
    """One actor on one issue.

    Attributes:
        actor: The actor's name.
        position: Its position on 0-100 (``None`` when ``value`` is given).
        value: Its position in a number issue's units (``None`` when ``position`` is given).
        salience: How much the issue matters to it, 0-100.
        capability: Its capability (>= 0; only ratios matter).
    """

    actor: ActorName
    position: float | None
    value: float | None
    salience: float
    capability: float

    def violations(self, path: str) -> list[Violation]:
        """The shape violations, each named under ``path`` (``issues.0.actors.2``)."""
        found = check_actor(self.actor, f"{path}.actor")
        if (self.position is None) == (self.value is None):
            found.append(
                Violation(f"{path}.position", "one_of", f"{path}: give exactly one of position or value")
            )
        elif self.position is not None:
            found += in_range(self.position, f"{path}.position", 0, 100)
        else:
            found += in_range(self.value, f"{path}.value", -math.inf, math.inf)
        found += in_range(self.salience, f"{path}.salience", 0, 100)
        return found + in_range(self.capability, f"{path}.capability", 0, math.inf)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuePositions:
    """The actors declared on one agenda issue.

    Attributes:
        issue: The agenda issue's name.
        reference: The reference point (status quo) on 0-100, if known.
        actors: Each actor once.
    """

    issue: IssueName
    reference: float | None
    actors: tuple[ActorPosition, ...]

    def violations(self, path: str) -> list[Violation]:
        """The shape violations, each named under ``path`` (``issues.0``)."""
        found = _check_issue(self.issue, f"{path}.issue")
        if self.reference is not None:
            found += in_range(self.reference, f"{path}.reference", 0, 100)
        if not _sized(self.actors, MAX_ACTORS):
            return [
                *found,
                Violation(f"{path}.actors", "items", f"{path}.actors: expected 1 to {MAX_ACTORS} actors"),
            ]
        names = [a.actor for a in self.actors]
        if len(set(names)) != len(names):
            found.append(Violation(f"{path}.actors", "unique", f"{path}.actors: an actor is named twice"))
        for i, actor in enumerate(self.actors):
            found += actor.violations(f"{path}.actors.{i}")
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelAnswer:
    """One model's answer on one issue (``None``: the model has none, e.g. no reference point)."""

    model: ModelName
    value: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueForecast:
    """Every model's answer on one issue, with the spread among the bargaining models.

    Attributes:
        issue: The agenda issue.
        answers: Each model's answer, each model once.
        spread: Highest minus lowest answer among the bargaining models.
        low_model: The bargaining model with the lowest answer.
        high_model: The bargaining model with the highest answer.
    """

    issue: IssueName
    answers: tuple[ModelAnswer, ...]
    spread: float
    low_model: ModelName
    high_model: ModelName

    def flagged(self, threshold: float) -> bool:
        """True when the models disagree: the spread is above ``threshold`` (never averaged away)."""
        return self.spread > threshold

    def violations(self, path: str) -> list[Violation]:
        """The shape violations, each named under ``path`` (``issues.0``)."""
        found = _check_issue(self.issue, f"{path}.issue") + in_range(self.spread, f"{path}.spread", 0, 100)
        if not _sized(self.answers, MAX_MODELS):
            return [
                *found,
                Violation(f"{path}.answers", "items", f"{path}.answers: expected 1 to {MAX_MODELS}"),
            ]
        models = [a.model for a in self.answers]
        if len(set(models)) != len(models):
            found.append(Violation(f"{path}.answers", "unique", f"{path}.answers: a model is named twice"))
        for name in ("low_model", "high_model"):
            if getattr(self, name) not in models:
                found.append(Violation(f"{path}.{name}", "one_of", f"{path}.{name}: not one of the answers"))
        for i, answer in enumerate(self.answers):
            found += _check_model(answer.model, f"{path}.answers.{i}.model")
            if answer.value is not None:
                found += in_range(answer.value, f"{path}.answers.{i}.value", 0, 100)
        return found


@dataclass(frozen=True, slots=True)
class Declaration:
    """One ``forecast.positions_declared`` event: its id, log sequence, time, author and issues."""

    declaration_id: str
    sequence: int
    at: datetime
    by: str
    issues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ForecastRecord:
    """One recorded forecast and the parties it was shared with.

    Attributes:
        forecast_id: Its id (its command's digest in hex).
        sequence: Its track event number.
        at: When it was recorded.
        requested_by: The mediator member who asked for it.
        declarations: The ids of the declarations it read (its watermark).
        through: The time of the latest of them.
        threshold: The disagreement threshold it was flagged with.
        issues: Every issue's answers.
        shared_with: The parties the mediator shared it with.
    """

    forecast_id: str
    sequence: int
    at: datetime
    requested_by: MemberId
    declarations: tuple[str, ...]
    through: datetime | None
    threshold: float
    issues: tuple[IssueForecast, ...]
    shared_with: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ForecastBook:
    """The forecasts part of a track's state (see the module docstring).

    Attributes:
        declarations: Every declaration, in log order.
        current: Issue -> the positions in force and the declaration that set them.
        forecasts: Forecast id -> record, in log order.
    """

    declarations: tuple[Declaration, ...] = ()
    current: Mapping[str, tuple[IssuePositions, Declaration]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    forecasts: Mapping[str, ForecastRecord] = field(default_factory=lambda: MappingProxyType({}))

    def watermark(self) -> tuple[str, ...]:
        """The ids of the declarations whose positions are in force, sorted: what a forecast reads now."""
        return tuple(sorted({d.declaration_id for _, d in self.current.values()}))

    def declare(self, declaration: Declaration, issues: tuple[IssuePositions, ...]) -> ForecastBook:
        """The book after ``declaration`` set the positions of ``issues``."""
        current = {**self.current, **{i.issue: (i, declaration) for i in issues}}
        return replace(
            self, declarations=(*self.declarations, declaration), current=MappingProxyType(current)
        )

    def record(self, forecast: ForecastRecord) -> ForecastBook:
        """The book with ``forecast`` added."""
        return replace(self, forecasts=MappingProxyType({**self.forecasts, forecast.forecast_id: forecast}))

    def share(self, forecast_id: str, parties: tuple[str, ...]) -> ForecastBook:
        """The book with forecast ``forecast_id`` shared with ``parties`` too (KeyError: no such forecast)."""
        record = self.forecasts[forecast_id]
        shared = replace(record, shared_with=record.shared_with | frozenset(parties))
        return replace(self, forecasts=MappingProxyType({**self.forecasts, forecast_id: shared}))

    def stale_cause(self, forecast_id: str) -> Declaration | None:
        """The first declaration after forecast ``forecast_id`` on one of its issues (``None``: current)."""
        record = self.forecasts[forecast_id]
        issues = {i.issue for i in record.issues}
        return next(
            (d for d in self.declarations if d.sequence > record.sequence and issues & set(d.issues)), None
        )


EMPTY_FORECASTS: Final = ForecastBook()
"""A track's book before any declaration."""
