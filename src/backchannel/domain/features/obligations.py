"""The obligations feature (ADR-0018): metered obligations with escalation ladders.

Decisions, the fold and who may see an obligation are in
:mod:`~backchannel.domain.agreements.obligation_rules`. An obligation's events
are seen by the bound party, every inspector party (they record consumption
against it) and the parties it is ``shared_with``. This module only declares
the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.agreements import obligation_rules
from backchannel.domain.agreements.obligation_events import (
    ObligationDeescalated,
    ObligationDefined,
    ObligationEscalated,
    ObligationEvent,
    ObligationMetered,
)
from backchannel.domain.commands import DefineObligation, RecordConsumption, ReviewObligation
from backchannel.domain.registry import Feature, command, event
from backchannel.domain.state import TrackState

__all__ = ["OBLIGATIONS"]


def _apply(draft: Draft, event: ObligationEvent) -> None:
    obligation_rules.apply(draft.obligations, event)


def _visible(state: TrackState, party: str, event: ObligationEvent) -> bool:
    record = state.obligations.get(event.obligation)
    return record is not None and obligation_rules.obligation_visible_to(state, party, record)


OBLIGATIONS = Feature(
    "obligations",
    commands=(
        command(DefineObligation, "define_obligation", obligation_rules.define_obligation),
        command(RecordConsumption, "record_consumption", obligation_rules.record_consumption),
        command(ReviewObligation, "review_obligation", obligation_rules.review_obligation),
    ),
    events=(
        event(ObligationDefined, _apply, _visible),
        event(ObligationMetered, _apply, _visible),
        event(ObligationEscalated, _apply, _visible),
        event(ObligationDeescalated, _apply, _visible),
    ),
)
"""Obligations (ADR-0018)."""
