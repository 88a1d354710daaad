"""Commands of the two-phase commit: draft, prepare, vote and resolve a deal.

Role matrix (decided in ``_deal_rules``):

===============  ===============================================
DraftDeal        mediator principal
PrepareDeal      mediator principal
VoteDeal         a delegation principal named in the deal's voters
ResolveDeal      the service (the prepare deadline, by the tick)
===============  ===============================================

Construction checks the shape of every field and raises one
:class:`~backchannel.domain.errors.SchemaViolationError` listing each bad field.
``deal_hash`` is computed by the wire layer (``backchannel.protocol.wire.deal_hash``)
from the deal's canonical JSON, as ``agenda_digest`` is for agendas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backchannel.domain.agreements.deals import Deal, Vote, check_deal_id
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.ids import check_digest
from backchannel.domain.keys import is_aware

__all__ = ["DraftDeal", "PrepareDeal", "ResolveDeal", "VoteDeal"]


def _deal(value: object) -> list[Violation]:
    if not isinstance(value, Deal):
        return [Violation("deal", "type", "deal: expected a Deal")]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftDeal(CommandEnvelope):
    """Circulate (or revise) a deal as a draft: no votes until it is prepared (mediator principal)."""

    deal: Deal
    deal_hash: bytes

    def _violations(self) -> list[Violation]:
        return _deal(self.deal) + check_digest(self.deal_hash, "deal_hash")


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepareDeal(CommandEnvelope):
    """Open the vote on ``deal`` (hash ``deal_hash``) until ``deadline`` (mediator principal)."""

    deal: Deal
    deal_hash: bytes
    deadline: datetime

    def _violations(self) -> list[Violation]:
        found = _deal(self.deal) + check_digest(self.deal_hash, "deal_hash")
        if not is_aware(self.deadline):
            found.append(Violation("deadline", "type", "deadline: expected an aware time"))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteDeal(CommandEnvelope):
    """Vote ``vote`` on deal ``deal_id`` by signing ``deal_hash`` (a delegation principal)."""

    deal_id: str
    deal_hash: bytes
    vote: Vote

    def _violations(self) -> list[Violation]:
        found = check_deal_id(self.deal_id) + check_digest(self.deal_hash, "deal_hash")
        vote: object = self.vote
        if not isinstance(vote, str) or vote not in set(Vote):
            found.append(Violation("vote", "one_of", f"vote: {vote!r:.40} is not one of no, yes"))
        else:
            object.__setattr__(self, "vote", Vote(vote))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveDeal(CommandEnvelope):
    """Resolve deal ``deal_id`` at its prepare deadline: missing votes abort it (service only)."""

    deal_id: str

    def _violations(self) -> list[Violation]:
        return check_deal_id(self.deal_id)
