"""Escrow events: opened, a release signed, released, refunded.

Re-exported by :mod:`backchannel.domain.events`, whose encodings they follow.
``escrow.released`` and ``escrow.refunded`` are final and mutually exclusive
(the decide functions guarantee it). This module does not decide or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, TypeAlias

from backchannel.domain._event_base import Recorded
from backchannel.domain.agreements.escrow_terms import EscrowTerms, check_escrow_id
from backchannel.domain.codec import Checked, Text
from backchannel.domain.ids import PartyId

__all__ = ["EscrowOpened", "EscrowRefunded", "EscrowReleaseSigned", "EscrowReleased"]

EscrowId: TypeAlias = Annotated[str, Checked(check_escrow_id)]
"""An escrow id field (:func:`check_escrow_id`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowOpened(Recorded):
    """The mediator opened an escrow with ``terms``, whose canonical SHA-256 is ``escrow_digest``."""

    type: ClassVar[str] = "escrow.opened"
    terms: EscrowTerms
    escrow_digest: bytes

    @property
    def escrow_id(self) -> str:
        """The escrow's id."""
        return self.terms.escrow_id


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowReleaseSigned(Recorded):
    """Principal ``by`` signed the release of ``escrow_id`` (digest ``escrow_digest``) for ``party``."""

    type: ClassVar[str] = "escrow.release_signed"
    escrow_id: EscrowId
    escrow_digest: bytes
    party: PartyId


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowReleased(Recorded):
    """Escrow ``escrow_id`` was released to its beneficiaries: its condition held at ``at``.

    ``signed_by`` are the parties whose signatures counted; ``reason`` is the
    check's summary at that instant (``2 of 2 signatures; predicate ... held 30 of 30 days``).
    """

    type: ClassVar[str] = "escrow.released"
    escrow_id: EscrowId
    signed_by: tuple[PartyId, ...]
    reason: Annotated[str, Text(4000)]


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowRefunded(Recorded):
    """Escrow ``escrow_id`` expired unreleased and was refunded to its owners (service)."""

    type: ClassVar[str] = "escrow.refunded"
    escrow_id: EscrowId
