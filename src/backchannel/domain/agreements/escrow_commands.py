"""Commands of the escrow feature: open, sign a release, release, expire.

Construction checks shapes only (:class:`~backchannel.domain.command_envelope.CommandEnvelope`);
:mod:`~backchannel.domain.agreements.escrow` decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.domain.agreements.escrow_terms import EscrowTerms, check_escrow_id
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.ids import check_digest

__all__ = ["ExpireEscrow", "OpenEscrow", "ReleaseEscrow", "SignEscrowRelease"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenEscrow(CommandEnvelope):
    """Open an escrow with ``terms`` (mediator principal).

    ``escrow_digest`` is SHA-256 of the canonical JSON of ``terms.to_dict()``,
    computed by the service (:func:`backchannel.protocol.wire.escrow_digest`); release
    signatures must name it.
    """

    terms: EscrowTerms
    escrow_digest: bytes

    def _violations(self) -> list[Violation]:
        found = check_digest(self.escrow_digest, "escrow_digest")
        terms: object = self.terms
        if not isinstance(terms, EscrowTerms):
            found.append(Violation("terms", "type", "terms: expected EscrowTerms"))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class SignEscrowRelease(CommandEnvelope):
    """Sign the release of ``escrow_id`` whose digest is ``escrow_digest`` (a principal of a signer party)."""

    escrow_id: str
    escrow_digest: bytes

    def _violations(self) -> list[Violation]:
        return check_escrow_id(self.escrow_id) + check_digest(self.escrow_digest, "escrow_digest")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseEscrow(CommandEnvelope):
    """Ask for ``escrow_id`` to be released (any member of a party that may see it)."""

    escrow_id: str

    def _violations(self) -> list[Violation]:
        return check_escrow_id(self.escrow_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireEscrow(CommandEnvelope):
    """Record that ``escrow_id`` expired unreleased: it refunds (service only, from its tick)."""

    escrow_id: str

    def _violations(self) -> list[Violation]:
        return check_escrow_id(self.escrow_id)
