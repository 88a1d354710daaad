"""The forecasts feature's events: ``forecast.positions_declared``, ``.recorded``, ``.shared``.

Their JSON forms are derived from their fields (:mod:`backchannel.domain.codec`).
A declaration's and a forecast's id is its command's digest in hex. This
module does not decide, apply or show anything
(:mod:`backchannel.domain.features.forecasts` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from backchannel.domain._event_base import Recorded
from backchannel.domain.forecasting import IssueForecast, IssuePositions
from backchannel.domain.ids import MemberId, MessageId, PartyId, message_id_of

__all__ = ["ActorPositionsDeclared", "ForecastRecorded", "ForecastShared"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorPositionsDeclared(Recorded):
    """The mediator declared actors' positions on ``issues`` (on 0-100; the mediator's alone)."""

    type: ClassVar[str] = "forecast.positions_declared"
    issues: tuple[IssuePositions, ...]

    @property
    def declaration_id(self) -> str:
        """The declaration's id: its command's digest in hex."""
        return message_id_of(self.command_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastRecorded(Recorded):
    """The service recorded a forecast for ``requested_by``: the models' answers per issue, its watermark."""

    type: ClassVar[str] = "forecast.recorded"
    requested_by: MemberId
    declarations: tuple[MessageId, ...]
    through: datetime
    threshold: float
    issues: tuple[IssueForecast, ...]

    @property
    def forecast_id(self) -> str:
        """The forecast's id: its command's digest in hex."""
        return message_id_of(self.command_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastShared(Recorded):
    """The mediator showed forecast ``forecast_id`` to ``parties``."""

    type: ClassVar[str] = "forecast.shared"
    forecast_id: MessageId
    parties: tuple[PartyId, ...]
