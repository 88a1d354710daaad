"""Checks shared by the decision functions: who signed, what they may do, fresh keys.

Every function here raises a precise :class:`~backchannel.errors.DomainError`
or returns; none decides a whole command (see :mod:`~backchannel.domain.track`
and :mod:`~backchannel.domain._messaging`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TypedDict

from backchannel.domain.commands import Command
from backchannel.domain.errors import KeyExpiredError, NotAuthorizedError, TrackStateError
from backchannel.domain.ids import PartyKind, Role
from backchannel.domain.keys import NewKey, time_text
from backchannel.domain.records import MemberRecord
from backchannel.domain.state import TrackState

__all__ = ["Stamp", "check_new_key", "require", "require_governor", "stamp"]


class Stamp(TypedDict):
    """The fields every event takes from its command and decision time."""

    by: str
    at: datetime
    command_digest: bytes
    idempotency_key: str | None


def stamp(command: Command, now: datetime) -> Stamp:
    """The common event fields for ``command`` decided at ``now``."""
    return Stamp(
        by=command.member, at=now, command_digest=command.digest, idempotency_key=command.idempotency_key
    )


def require(
    state: TrackState, member: str, kinds: Collection[PartyKind], roles: Collection[Role], action: str
) -> MemberRecord:
    """The signer's record, if it is one of ``roles`` in a party of one of ``kinds``.

    Raises:
        NotAuthorizedError: any other party kind or role; the message names both.
    """
    record = state.member(member)
    kind = state.parties[record.party].kind
    if kind not in kinds or record.role not in roles:
        wanted_roles = " or ".join(sorted(roles))
        wanted_kinds = " or ".join(sorted(kinds))
        raise NotAuthorizedError(
            f"{member} ({record.role} of {kind} party {record.party}) may not {action}: "
            f"only a {wanted_roles} of a {wanted_kinds} party may"
        )
    return record


def require_governor(state: TrackState, member: str, subject: MemberRecord, action: str) -> None:
    """Allow ``member`` to act on ``subject``'s keys: the subject itself, or a principal of its party.

    Raises:
        NotAuthorizedError: anyone else.
    """
    signer = state.member(member)
    if signer.member == subject.member:
        return
    if signer.party != subject.party or signer.role is not Role.PRINCIPAL:
        raise NotAuthorizedError(
            f"{member} may not {action} for {subject.member}: "
            f"only the member itself or a principal of {subject.party} may"
        )


def check_new_key(state: TrackState | None, key: NewKey, now: datetime) -> None:
    """Refuse a key id enrolled before (even if revoked since) or already expired at ``now``.

    Raises:
        TrackStateError: the key id was enrolled before.
        KeyExpiredError: ``expires_at <= now``.
    """
    if state is not None and key.key_id in state.key_owners:
        raise TrackStateError(f"key {key.key_id} was already enrolled for {state.key_owners[key.key_id]}")
    if key.expires_at is not None and key.expires_at <= now:
        raise KeyExpiredError(
            f"key {key.key_id} expires at {time_text(key.expires_at)}, not after {time_text(now)}",
            key_id=key.key_id,
            when=key.expires_at,
        )
