"""Escrow events: opened, a release signed, released, refunded.

Re-exported by :mod:`backchannel.domain.events`, whose encodings they follow.
``escrow.released`` and ``escrow.refunded`` are final and mutually exclusive
(the decide functions guarantee it). This module does not decide or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, open_event
from backchannel.domain.agreements.escrow_terms import EscrowTerms, check_escrow_id
from backchannel.domain.ids import check_party_id
from backchannel.domain.values import JSONValue

__all__ = ["EscrowOpened", "EscrowRefunded", "EscrowReleaseSigned", "EscrowReleased"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowOpened(Recorded):
    """The mediator opened an escrow with ``terms``, whose canonical SHA-256 is ``escrow_digest``."""

    type: ClassVar[str] = "escrow.opened"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"terms", "escrow_digest"})
    terms: EscrowTerms
    escrow_digest: bytes

    @property
    def escrow_id(self) -> str:
        """The escrow's id."""
        return self.terms.escrow_id

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "terms": self.terms.to_dict(),
            "escrow_digest": self.escrow_digest.hex(),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> EscrowOpened:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            terms = EscrowTerms.from_dict(r.raw("terms"), f"{cls.type}.terms")
            return cls(**common, terms=terms, escrow_digest=r.hex32("escrow_digest"))


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowReleaseSigned(Recorded):
    """Principal ``by`` signed the release of ``escrow_id`` (digest ``escrow_digest``) for ``party``."""

    type: ClassVar[str] = "escrow.release_signed"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"escrow_id", "escrow_digest", "party"})
    escrow_id: str
    escrow_digest: bytes
    party: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "escrow_id": self.escrow_id,
            "escrow_digest": self.escrow_digest.hex(),
            "party": self.party,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> EscrowReleaseSigned:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                escrow_id=r.checked("escrow_id", check_escrow_id),
                escrow_digest=r.hex32("escrow_digest"),
                party=r.checked("party", check_party_id),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowReleased(Recorded):
    """Escrow ``escrow_id`` was released to its beneficiaries: its condition held at ``at``.

    ``signed_by`` are the parties whose signatures counted; ``reason`` is the
    check's summary at that instant (``2 of 2 signatures; predicate ... held 30 of 30 days``).
    """

    type: ClassVar[str] = "escrow.released"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"escrow_id", "signed_by", "reason"})
    escrow_id: str
    signed_by: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "escrow_id": self.escrow_id,
            "signed_by": list(self.signed_by),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> EscrowReleased:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                escrow_id=r.checked("escrow_id", check_escrow_id),
                signed_by=r.checked_list("signed_by", check_party_id),
                reason=r.text("reason", 4000),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowRefunded(Recorded):
    """Escrow ``escrow_id`` expired unreleased and was refunded to its owners (service)."""

    type: ClassVar[str] = "escrow.refunded"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"escrow_id"})
    escrow_id: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {**self.common_dict(), "escrow_id": self.escrow_id}

    @classmethod
    def from_dict(cls, value: JSONValue) -> EscrowRefunded:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(**common, escrow_id=r.checked("escrow_id", check_escrow_id))
