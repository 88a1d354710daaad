"""The agenda feature: the mediator proposes agenda versions, delegation principals ratify them.

Decisions are :func:`~backchannel.domain._messaging.propose_agenda` and
:func:`~backchannel.domain._messaging.ratify_agenda`; this module applies the
two events and declares the feature. Agenda events are public track metadata.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Final

from backchannel.domain import _messaging
from backchannel.domain._draft import Draft
from backchannel.domain.commands import ProposeAgenda, RatifyAgenda
from backchannel.domain.records import AgendaRecord
from backchannel.domain.registry import Feature, command, event, everyone_sees
from backchannel.domain.track_events import AgendaProposed, AgendaRatified

__all__ = ["AGENDA"]

_NO_RATIFICATIONS: Final = MappingProxyType[str, datetime]({})


def _agenda_proposed(draft: Draft, event: AgendaProposed) -> None:
    draft.agenda = AgendaRecord(event.agenda, event.agenda_digest, event.by, event.at, _NO_RATIFICATIONS)


def _agenda_ratified(draft: Draft, event: AgendaRatified) -> None:
    if draft.agenda is None:
        raise KeyError("agenda")
    ratified = MappingProxyType({**draft.agenda.ratified_by, event.by: event.at})
    draft.agenda = replace(draft.agenda, ratified_by=ratified)


AGENDA = Feature(
    "agenda",
    commands=(
        command(ProposeAgenda, "propose_agenda", _messaging.propose_agenda),
        command(RatifyAgenda, "ratify_agenda", _messaging.ratify_agenda),
    ),
    events=(
        event(AgendaProposed, _agenda_proposed, everyone_sees),
        event(AgendaRatified, _agenda_ratified, everyone_sees),
    ),
)
"""The agenda (ADR-0011)."""
