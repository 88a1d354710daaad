"""Response bodies of the escrow read endpoint (ADR-0017), and their rendering.

``GET /v1/tracks/{track}/escrows/{escrow_id}`` answers an :class:`EscrowResponse`:
the escrow's terms and digest, its signatures and status, and its check at
the time of the request (:class:`EscrowCheckModel`): how many signatures of
how many, each predicate's progress (``held`` of ``required`` in the
predicate's unit), whether it is expired or releasable, and the summary text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from backchannel.domain.keys import time_text
from backchannel.service.escrow import EscrowView

__all__ = [
    "EscrowCheckModel",
    "EscrowResponse",
    "PredicateProgressModel",
    "SignatureModel",
    "escrow_response",
]


class SignatureModel(BaseModel):
    """One signer party's release signature."""

    party: str
    member: str
    at: str


class PredicateProgressModel(BaseModel):
    """How far one predicate is."""

    text: str = Field(description="The predicate's normal form.")
    held: int = Field(description="How long it has held, in whole units (at most required).")
    required: int = Field(description="How long it must hold, in whole units.")
    unit: str = Field(description="second, minute, hour or day.")
    held_seconds: float
    required_seconds: float
    holds: bool
    note: str | None = Field(description="Why it cannot hold at all (an undefined metric), if so.")
    progress: str = Field(description="e.g. predicate `...` held 12 of 30 days")


class EscrowCheckModel(BaseModel):
    """How far the release condition is at ``at``."""

    at: str
    signatures: int
    threshold: int
    signers: int
    signed_by: list[str]
    predicates: list[PredicateProgressModel]
    expired: bool
    releasable: bool
    reason: str


class EscrowResponse(BaseModel):
    """An escrow, its signatures, status and check."""

    escrow_id: str
    status: str = Field(description="open, released or refunded")
    escrow_digest: str = Field(description="SHA-256 of the terms' canonical JSON: what signers sign.")
    terms: dict[str, Any]
    condition: str
    opened_by: str
    opened_at: str
    signatures: list[SignatureModel]
    closed_at: str | None
    closed_by: str | None
    check: EscrowCheckModel


def escrow_response(view: EscrowView) -> EscrowResponse:
    """Render an escrow and its check."""
    record, check = view.record, view.check
    return EscrowResponse(
        escrow_id=record.escrow_id,
        status=record.status.value,
        escrow_digest=record.digest.hex(),
        terms=dict(record.terms.to_dict()),
        condition=record.terms.condition_text,
        opened_by=record.opened_by,
        opened_at=time_text(record.opened_at),
        signatures=[
            SignatureModel(party=s.party, member=s.member, at=time_text(s.at)) for s in record.signatures
        ],
        closed_at=None if record.closed_at is None else time_text(record.closed_at),
        closed_by=record.closed_by,
        check=EscrowCheckModel(
            at=time_text(view.at),
            signatures=check.signatures,
            threshold=check.threshold,
            signers=check.signers,
            signed_by=list(check.signed_by),
            predicates=[
                PredicateProgressModel(
                    text=p.text,
                    held=p.held_units,
                    required=p.required_units,
                    unit=p.unit,
                    held_seconds=p.held.total_seconds(),
                    required_seconds=p.required.total_seconds(),
                    holds=p.holds,
                    note=p.note,
                    progress=p.describe(),
                )
                for p in check.predicates
            ],
            expired=check.expired,
            releasable=check.releasable,
            reason=check.reason,
        ),
    )
