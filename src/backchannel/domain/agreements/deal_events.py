"""The events of staged deals (issue #4): drafted, prepared, voted, committed, aborted.

The model is :mod:`~backchannel.domain.agreements.deals`; the rules are in
:mod:`~backchannel.domain.agreements._deal_rules`. Each event's JSON form is
derived from its fields (:mod:`backchannel.domain.codec`); a deal is its
:meth:`Deal.to_dict` form, registered here once. This module does not decide
or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, TypeAlias

from backchannel.domain._event_base import Recorded
from backchannel.domain.agreements.deals import (
    MAX_DETAIL,
    AbortReason,
    Compensation,
    Deal,
    Vote,
    check_deal_id,
)
from backchannel.domain.codec import LOG, Checked, Codec, Integer, Text, Using
from backchannel.domain.errors import SchemaViolationError
from backchannel.domain.ids import MemberId
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = ["DealAborted", "DealCommitted", "DealDrafted", "DealId", "DealPrepared", "DealVoted"]


def _deal_from_json(value: JSONValue, path: str) -> Deal:
    try:
        return Deal.from_dict(value)
    except SchemaViolationError as e:
        raise EncodingError(f"{path}: {e}") from e


_DEAL: Codec[Deal] = Using(_deal_from_json, Deal.to_dict)
_COMPENSATION: Codec[Compensation] = Using(Compensation.from_dict, Compensation.to_dict)
LOG.register(Deal, _DEAL)
LOG.register(Compensation, _COMPENSATION)
DealId: TypeAlias = Annotated[str, Checked(check_deal_id)]
"""A deal id field (:func:`check_deal_id`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DealDrafted(Recorded):
    """The mediator circulated a draft of a deal (no votes yet); a redraft replaces it."""

    type: ClassVar[str] = "deal.drafted"
    deal: Deal
    deal_hash: bytes
    agenda_version: Annotated[int, Integer(1)] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DealPrepared(Recorded):
    """The mediator opened the vote: each of ``voters`` must sign YES on ``deal_hash`` before ``deadline``."""

    type: ClassVar[str] = "deal.prepared"
    deal: Deal
    deal_hash: bytes
    agenda_version: Annotated[int, Integer(1)] | None
    deadline: datetime
    voters: tuple[MemberId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DealVoted(Recorded):
    """Principal ``by`` voted ``vote`` on deal ``deal_id``, signing ``deal_hash`` (maybe not the deal's)."""

    type: ClassVar[str] = "deal.voted"
    deal_id: DealId
    deal_hash: bytes
    vote: Vote


@dataclass(frozen=True, slots=True, kw_only=True)
class DealCommitted(Recorded):
    """Every voter signed YES on ``deal_hash``: the deal is committed (final)."""

    type: ClassVar[str] = "deal.committed"
    deal_id: DealId
    deal_hash: bytes
    voters: tuple[MemberId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DealAborted(Recorded):
    """The deal aborted (final): ``reason``, a ``detail`` naming who, every step as a void compensation."""

    type: ClassVar[str] = "deal.aborted"
    deal_id: DealId
    deal_hash: bytes
    reason: AbortReason
    detail: Annotated[str, Text(MAX_DETAIL)]
    missing: tuple[MemberId, ...]
    compensations: tuple[Compensation, ...]
