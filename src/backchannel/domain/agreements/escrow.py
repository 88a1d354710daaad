"""Escrow: decide open, sign, release and expire; who sees an escrow.

Rules, beyond the terms' own checks (:mod:`~backchannel.domain.agreements.escrow_terms`):

- **open** (mediator principal): a new id; ``expires_at`` after the decision
  time; every item's owner and beneficiary an admitted delegation; every
  signer an admitted delegation or the mediator party; every predicate's
  metric defined on the track. Every failure is named in one
  :class:`~backchannel.domain.errors.SchemaViolationError`.
- **sign** (a principal of a signer party): names the escrow's digest (the
  canonical SHA-256 of its terms: a signature cannot be carried over to other
  terms), once per party, while the escrow is open and unexpired.
- **release** (any member of a party that may see the escrow): decided at the
  decision time. It succeeds only if the condition holds then
  (:func:`~backchannel.domain.agreements.escrow_book.require_releasable`): open,
  before ``expires_at``, at least k signatures, every predicate holding over
  the counted attestations. Otherwise it is refused with the check's summary
  (``1 of 2 signatures; predicate `...` held 12 of 30 days``) and nothing is logged.
- **expire** (the service, from its tick): from ``expires_at`` on, an open
  escrow is refunded to its owners.

Released and refunded are final and exclusive: release needs ``now <
expires_at``, refund ``now >= expires_at``, and neither applies to a closed escrow.

**Visibility** (:func:`escrow_visible`): the mediator party, and the parties an
escrow concerns (items' owners and beneficiaries, signers). Inspectors do not
see escrows unless named in one: what their measurements unlock should not
weigh on them. To anyone else an escrow does not exist (the same
:class:`UnknownEscrowError` as for an unknown id).
"""

from __future__ import annotations

from datetime import datetime

from backchannel.domain._rules import require, stamp
from backchannel.domain.agreements.escrow_book import (
    EscrowEvent,
    EscrowRecord,
    EscrowStatus,
    UnknownEscrowError,
    require_releasable,
)
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.escrow_events import (
    EscrowOpened,
    EscrowRefunded,
    EscrowReleased,
    EscrowReleaseSigned,
)
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError, Violation
from backchannel.domain.ids import PartyKind, Role
from backchannel.domain.keys import time_text
from backchannel.domain.state import TrackState

__all__ = [
    "escrow_visible",
    "expire_escrow",
    "open_escrow",
    "release_escrow",
    "sign_escrow_release",
    "visible_escrow",
]

_MEDIATOR = (PartyKind.MEDIATOR,)


def open_escrow(state: TrackState, command: OpenEscrow, now: datetime) -> list[EscrowOpened]:
    """Decide :class:`OpenEscrow`."""
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL,), "open escrows")
    terms = command.terms
    if state.escrows.get(terms.escrow_id) is not None:
        raise TrackStateError(f"escrow {terms.escrow_id} already exists")
    found: list[Violation] = []
    if terms.expires_at <= now:
        message = f"expires_at: {time_text(terms.expires_at)} is not after {time_text(now)}"
        found.append(Violation("expires_at", "future", message))
    for i, item in enumerate(terms.items):
        for name in ("owner", "beneficiary"):
            party = getattr(item, name)
            found += _party(state, party, f"items.{i}.{name}", (PartyKind.DELEGATION,))
    for i, party in enumerate(terms.signers):
        found += _party(state, party, f"signers.{i}", (PartyKind.DELEGATION, PartyKind.MEDIATOR))
    for i, predicate in enumerate(terms.parsed):
        if predicate.metric not in state.attestations.metrics:
            message = f"predicates.{i}: no metric {predicate.metric!r} is defined"
            found.append(Violation(f"predicates.{i}", "metric", message))
    if found:
        raise SchemaViolationError(found)
    return [EscrowOpened(**stamp(command, now), terms=terms, escrow_digest=command.escrow_digest)]


def _party(state: TrackState, party: str, field: str, kinds: tuple[PartyKind, ...]) -> list[Violation]:
    record = state.parties.get(party)
    if record is None or record.kind not in kinds:
        what = "not a party of the track" if record is None else f"a {record.kind} party"
        wanted = " or ".join(kinds)
        return [Violation(field, "party", f"{field}: {party} is {what}, not a {wanted} party")]
    return []


def visible_escrow(state: TrackState, escrow_id: str, party: str) -> EscrowRecord:
    """The escrow ``escrow_id``, if ``party`` may see it.

    Raises:
        UnknownEscrowError: no such escrow, or ``party`` may not see it (one answer for both).
    """
    record = state.escrows.get(escrow_id)
    if record is None or not (party == state.mediator or party in record.parties()):
        raise UnknownEscrowError(f"no escrow {escrow_id!r} visible to {party}")
    return record


def _open(record: EscrowRecord) -> None:
    if record.status is not EscrowStatus.OPEN:
        assert record.closed_at is not None  # set with the final status
        raise TrackStateError(
            f"escrow {record.escrow_id} was already {record.status.value} at {time_text(record.closed_at)}"
        )


def sign_escrow_release(
    state: TrackState, command: SignEscrowRelease, now: datetime
) -> list[EscrowReleaseSigned]:
    """Decide :class:`SignEscrowRelease`."""
    signer = state.member(command.member)
    record = visible_escrow(state, command.escrow_id, signer.party)
    if signer.role is not Role.PRINCIPAL or signer.party not in record.terms.signers:
        raise NotAuthorizedError(
            f"{command.member} may not sign the release of {record.escrow_id}: only a principal of "
            f"{', '.join(record.terms.signers)} may"
        )
    _open(record)
    if now >= record.terms.expires_at:
        raise TrackStateError(f"escrow {record.escrow_id} expired at {time_text(record.terms.expires_at)}")
    if command.escrow_digest != record.digest:
        raise TrackStateError(
            f"the signature names digest {command.escrow_digest.hex()}, but escrow {record.escrow_id} "
            f"has digest {record.digest.hex()}"
        )
    if signer.party in record.signed_by:
        raise TrackStateError(f"{signer.party} already signed the release of {record.escrow_id}")
    return [
        EscrowReleaseSigned(
            **stamp(command, now), escrow_id=record.escrow_id, escrow_digest=record.digest, party=signer.party
        )
    ]


def release_escrow(state: TrackState, command: ReleaseEscrow, now: datetime) -> list[EscrowReleased]:
    """Decide :class:`ReleaseEscrow`: released only if the condition holds at ``now``."""
    record = visible_escrow(state, command.escrow_id, state.member(command.member).party)
    _open(record)
    check = require_releasable(record, state.attestations, now)
    return [
        EscrowReleased(
            **stamp(command, now), escrow_id=record.escrow_id, signed_by=record.signed_by, reason=check.reason
        )
    ]


def expire_escrow(state: TrackState, command: ExpireEscrow, now: datetime) -> list[EscrowRefunded]:
    """Decide :class:`ExpireEscrow` (service only)."""
    require(state, command.member, _MEDIATOR, (Role.SERVICE,), "expire escrows")
    record = visible_escrow(state, command.escrow_id, state.mediator)
    _open(record)
    if now < record.terms.expires_at:
        raise TrackStateError(
            f"escrow {record.escrow_id} does not expire before {time_text(record.terms.expires_at)}"
        )
    return [EscrowRefunded(**stamp(command, now), escrow_id=record.escrow_id)]


def escrow_visible(state: TrackState, party: str, event: EscrowEvent) -> bool:
    """True if a member of non-mediator ``party`` may see ``event`` (see the module docstring)."""
    record = state.escrows.get(event.escrow_id)
    return record is not None and party in record.parties()
