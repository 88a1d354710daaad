"""The forecasts feature's commands: ``declare_actor_positions``, ``record_forecast``, ``share_forecast``.

Each carries the signed envelope of every command
(:mod:`backchannel.domain.command_envelope`) and checks the shape of its own
fields at construction, raising one
:class:`~backchannel.domain.errors.SchemaViolationError` listing every
malformed field by path (``issues.0.actors.2.salience: must be in [0, 100]
(got 130)``). Whether a command is *allowed*, and whether its issues are on
the agenda, is :mod:`backchannel.domain.features.forecasts`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.forecasting import (
    MAX_FORECAST_ISSUES,
    IssueForecast,
    IssuePositions,
    in_range,
)
from backchannel.domain.ids import check_member_id, check_message_id, check_party_id

__all__ = ["MAX_SHARED_PARTIES", "DeclareActorPositions", "RecordForecast", "ShareForecast"]

MAX_SHARED_PARTIES = 64
"""At most this many parties per share."""


def _items(values: object, name: str, maximum: int) -> list[Violation]:
    if not isinstance(values, tuple) or not 0 < len(values) <= maximum:
        return [Violation(name, "items", f"{name}: expected 1 to {maximum} items")]
    return []


def _unique(names: list[str], name: str, what: str) -> list[Violation]:
    if len(set(names)) != len(names):
        return [Violation(name, "unique", f"{name}: {what} named twice")]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclareActorPositions(CommandEnvelope):
    """Declare, per agenda issue, each actor's position, salience and capability (the mediator, privately).

    A later declaration of an issue replaces its positions and makes every
    earlier forecast of that issue stale.
    """

    issues: tuple[IssuePositions, ...]

    def _violations(self) -> list[Violation]:
        found = _items(self.issues, "issues", MAX_FORECAST_ISSUES)
        if found:
            return found
        found += _unique([i.issue for i in self.issues], "issues", "an issue is")
        for n, issue in enumerate(self.issues):
            found += issue.violations(f"issues.{n}")
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordForecast(CommandEnvelope):
    """Record the forecast the service computed for ``requested_by`` (signed by ``<mediator>/service``).

    Attributes:
        requested_by: The mediator member who asked for it.
        declarations: The declarations it read (its watermark), sorted ids.
        through: When the latest of them was recorded.
        threshold: Above this spread an issue is flagged "models disagree".
        issues: Every declared issue's answers.
    """

    requested_by: str
    declarations: tuple[str, ...]
    through: datetime
    threshold: float
    issues: tuple[IssueForecast, ...]

    def _violations(self) -> list[Violation]:
        found = check_member_id(self.requested_by, "requested_by")
        found += _items(self.declarations, "declarations", MAX_FORECAST_ISSUES)
        if not found:
            for n, declaration in enumerate(self.declarations):
                found += check_message_id(declaration, f"declarations.{n}")
        found += in_range(self.threshold, "threshold", 0, 100)
        issues = _items(self.issues, "issues", MAX_FORECAST_ISSUES)
        if issues:
            return found + issues
        found += _unique([i.issue for i in self.issues], "issues", "an issue is")
        for n, issue in enumerate(self.issues):
            found += issue.violations(f"issues.{n}")
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareForecast(CommandEnvelope):
    """Show forecast ``forecast_id`` (and its age and staleness) to ``parties`` (the mediator)."""

    forecast_id: str
    parties: tuple[str, ...]

    def _violations(self) -> list[Violation]:
        found = check_message_id(self.forecast_id, "forecast_id")
        shape = _items(self.parties, "parties", MAX_SHARED_PARTIES)
        if shape:
            return found + shape
        found += _unique(list(self.parties), "parties", "a party is")
        for n, party in enumerate(self.parties):
            found += check_party_id(party, f"parties.{n}")
        return found
