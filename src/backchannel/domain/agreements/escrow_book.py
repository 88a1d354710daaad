"""Escrows in a track's state, and the escrow check: how far each one's condition is.

:class:`EscrowBook` is the ``escrows`` field of
:class:`~backchannel.domain.state.TrackState`; :meth:`EscrowBook.apply` is its
fold step. An escrow is ``open`` until it is ``released`` (its condition held
when release was asked for, before expiry) or ``refunded`` (it expired
unreleased); both are final.

:func:`check_escrow` returns an :class:`EscrowCheck` saying how far the
condition is at ``now``, for instance ``1 of 2 signatures; predicate
`iaea.enrichment_pct <= 3.67 sustained for 30 days` held 12 of 30 days``.
:func:`require_releasable` is the raising variant: it fails closed, raising
:class:`EscrowConditionError` (carrying the check) unless the escrow is open,
unexpired, signed by at least k of its n signers and every predicate holds.
A predicate over a metric the track does not define never holds. The terms
themselves cannot be malformed (no signer, k = 0, k > n, no predicate):
:class:`~backchannel.domain.agreements.escrow_terms.EscrowTerms` refuses them
on construction.

This module does not decide commands (see :mod:`~backchannel.domain.agreements.escrow`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import partial

from immutables import Map

from backchannel.domain.agreements.attestation_book import AttestationBook
from backchannel.domain.agreements.escrow_events import (
    EscrowOpened,
    EscrowRefunded,
    EscrowReleased,
    EscrowReleaseSigned,
)
from backchannel.domain.agreements.escrow_terms import EscrowTerms
from backchannel.domain.agreements.predicates import PredicateProgress, evaluate
from backchannel.domain.keys import time_text
from backchannel.errors import DomainError

__all__ = [
    "EMPTY_ESCROWS",
    "ESCROW_EVENTS",
    "EscrowBook",
    "EscrowCheck",
    "EscrowConditionError",
    "EscrowEvent",
    "EscrowRecord",
    "EscrowStatus",
    "Signature",
    "UnknownEscrowError",
    "check_escrow",
    "require_releasable",
]

EscrowEvent = EscrowOpened | EscrowReleaseSigned | EscrowReleased | EscrowRefunded
ESCROW_EVENTS = (EscrowOpened, EscrowReleaseSigned, EscrowReleased, EscrowRefunded)
"""The event classes this book folds."""


class UnknownEscrowError(DomainError):
    """No escrow of that id exists, or the signer's party may not see it."""


class EscrowConditionError(DomainError):
    """The escrow cannot be released now; the message says how far its condition is.

    Attributes:
        check: The check that refused it.
    """

    def __init__(self, message: str, *, check: EscrowCheck) -> None:
        """Create the error carrying the check."""
        super().__init__(message)
        self.check = check


class EscrowStatus(StrEnum):
    """Where an escrow stands."""

    OPEN = "open"
    RELEASED = "released"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class Signature:
    """One signer party's release signature.

    Attributes:
        party: The signer party.
        member: Its principal who signed.
        at: When.
    """

    party: str
    member: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EscrowRecord:
    """One escrow.

    Attributes:
        terms: What it holds and what releases it.
        digest: The canonical SHA-256 of its terms (what signers sign).
        opened_by: The mediator principal who opened it.
        opened_at: When.
        signatures: The signer parties' signatures, in order.
        status: Open, released or refunded.
        closed_at: When it was released or refunded.
        closed_by: Who asked for the release (or the service, for a refund).
    """

    terms: EscrowTerms
    digest: bytes
    opened_by: str
    opened_at: datetime
    signatures: tuple[Signature, ...] = ()
    status: EscrowStatus = EscrowStatus.OPEN
    closed_at: datetime | None = None
    closed_by: str | None = None

    @property
    def escrow_id(self) -> str:
        """Its id."""
        return self.terms.escrow_id

    @property
    def signed_by(self) -> tuple[str, ...]:
        """The parties that signed, in order."""
        return tuple(s.party for s in self.signatures)

    def parties(self) -> frozenset[str]:
        """Every party the escrow concerns: items' owners and beneficiaries, and the signers."""
        items = {p for item in self.terms.items for p in (item.owner, item.beneficiary)}
        return frozenset(items | set(self.terms.signers))


@dataclass(frozen=True, slots=True)
class EscrowCheck:
    """How far an escrow's condition is at one instant (see :func:`check_escrow`).

    Attributes:
        escrow_id: The escrow.
        status: Open, released or refunded.
        signatures: How many signer parties signed.
        threshold: How many must (k).
        signers: How many may (n).
        signed_by: Who signed, in order.
        predicates: Each predicate's progress, in the terms' order.
        expired: True from ``expires_at`` on.
        releasable: True when a release asked for now would succeed.
        reason: The summary, e.g. ``1 of 2 signatures; predicate `...` held 12 of 30 days``.
    """

    escrow_id: str
    status: EscrowStatus
    signatures: int
    threshold: int
    signers: int
    signed_by: tuple[str, ...]
    predicates: tuple[PredicateProgress, ...]
    expired: bool
    releasable: bool
    reason: str


def check_escrow(record: EscrowRecord, book: AttestationBook, now: datetime) -> EscrowCheck:
    """How far ``record`` 's condition is at ``now``, over the counted attestations in ``book``."""
    terms = record.terms
    progress: list[PredicateProgress] = []
    for predicate in terms.parsed:
        rule = book.metrics.get(predicate.metric)
        if rule is None:
            progress.append(
                PredicateProgress(
                    predicate.text,
                    predicate.duration * 0,
                    predicate.duration,
                    holds=False,
                    unit=predicate.unit,
                    note=f"metric {predicate.metric} is not defined on this track",
                )
            )
            continue
        progress.append(evaluate(predicate, rule.window, partial(book.counted_in, predicate.metric), now))
    signatures = len(record.signatures)
    expired = now >= terms.expires_at
    signed = signatures >= terms.threshold
    releasable = (
        record.status is EscrowStatus.OPEN and not expired and signed and all(p.holds for p in progress)
    )
    parts = [f"{signatures} of {terms.threshold} signatures", *(p.describe() for p in progress)]
    summary = "; ".join(parts)
    if record.status is not EscrowStatus.OPEN:
        assert record.closed_at is not None  # set with the final status
        summary = f"{record.status.value} at {time_text(record.closed_at)}; {summary}"
    elif expired:
        summary = f"expired at {time_text(terms.expires_at)} (it refunds); {summary}"
    elif releasable:
        summary = f"releasable: {summary}"
    return EscrowCheck(
        escrow_id=record.escrow_id,
        status=record.status,
        signatures=signatures,
        threshold=terms.threshold,
        signers=len(terms.signers),
        signed_by=record.signed_by,
        predicates=tuple(progress),
        expired=expired,
        releasable=releasable,
        reason=summary,
    )


def require_releasable(record: EscrowRecord, book: AttestationBook, now: datetime) -> EscrowCheck:
    """The check, if the escrow may be released at ``now`` (fails closed).

    Raises:
        EscrowConditionError: it is final, expired, short of signatures, or a
            predicate does not hold; the message is the check's summary.
    """
    check = check_escrow(record, book, now)
    if not check.releasable:
        raise EscrowConditionError(
            f"escrow {record.escrow_id} cannot be released: {check.reason}", check=check
        )
    return check


@dataclass(frozen=True, slots=True)
class EscrowBook:
    """The escrows of one track.

    Attributes:
        escrows: Id -> record.
    """

    escrows: Map[str, EscrowRecord]

    def get(self, escrow_id: str) -> EscrowRecord | None:
        """The escrow of that id, if any."""
        return self.escrows.get(escrow_id)

    def apply(self, event: EscrowEvent) -> EscrowBook:
        """The book after ``event`` (``KeyError`` for an unknown escrow)."""
        match event:
            case EscrowOpened():
                record = EscrowRecord(event.terms, event.escrow_digest, event.by, event.at)
            case EscrowReleaseSigned():
                current = self.escrows[event.escrow_id]
                signature = Signature(event.party, event.by, event.at)
                record = replace(current, signatures=(*current.signatures, signature))
            case EscrowReleased():
                record = self._close(event.escrow_id, EscrowStatus.RELEASED, event.at, event.by)
            case _:  # EscrowRefunded
                record = self._close(event.escrow_id, EscrowStatus.REFUNDED, event.at, event.by)
        return EscrowBook(self.escrows.set(record.escrow_id, record))

    def _close(self, escrow_id: str, status: EscrowStatus, at: datetime, by: str) -> EscrowRecord:
        return replace(self.escrows[escrow_id], status=status, closed_at=at, closed_by=by)


EMPTY_ESCROWS = EscrowBook(Map())
"""The escrows of a track with none yet."""
