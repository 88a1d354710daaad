"""The deals feature (issue #4): draft, prepare, vote on and resolve staged deals (two-phase commit).

Decisions and the fold are in :mod:`~backchannel.domain.agreements._deal_rules`;
the model is :mod:`~backchannel.domain.agreements.deals`. Deal events are
seen by the mediator and every delegation (every delegation principal votes),
by no inspector or witness. This module only declares the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.agreements import _deal_rules
from backchannel.domain.agreements._deal_rules import DealEvent
from backchannel.domain.agreements.deal_commands import DraftDeal, PrepareDeal, ResolveDeal, VoteDeal
from backchannel.domain.agreements.deal_events import (
    DealAborted,
    DealCommitted,
    DealDrafted,
    DealPrepared,
    DealVoted,
)
from backchannel.domain.registry import Feature, command, delegations_see, event

__all__ = ["DEALS"]


def _apply(draft: Draft, event: DealEvent) -> None:
    draft.deals = _deal_rules.apply(draft.deals, event, draft.version)


DEALS = Feature(
    "deals",
    commands=(
        command(DraftDeal, "draft_deal", _deal_rules.draft_deal),
        command(PrepareDeal, "prepare_deal", _deal_rules.prepare_deal),
        command(VoteDeal, "vote_deal", _deal_rules.vote_deal),
        command(ResolveDeal, "resolve_deal", _deal_rules.resolve_deal),
    ),
    events=(
        event(DealDrafted, _apply, delegations_see),
        event(DealPrepared, _apply, delegations_see),
        event(DealVoted, _apply, delegations_see),
        event(DealCommitted, _apply, delegations_see),
        event(DealAborted, _apply, delegations_see),
    ),
)
"""Staged deals (issue #4)."""
