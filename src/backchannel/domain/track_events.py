"""The events of membership, keys and the agenda (opened, admitted, enrolled, rotated, revoked...).

Re-exported by :mod:`backchannel.domain.events`, which describes the JSON
encodings common to every event. This module does not decide or apply
anything (see :mod:`backchannel.domain.features.membership` and
:mod:`backchannel.domain.features.agenda`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from backchannel.domain._event_base import Recorded
from backchannel.domain.agenda import Agenda
from backchannel.domain.codec import Integer, Text
from backchannel.domain.ids import KeyId, MemberId, PartyId, PartyKind, Role, TrackId, party_of
from backchannel.domain.keys import NewKey

__all__ = [
    "AgendaProposed",
    "AgendaRatified",
    "KeyRevoked",
    "KeyRotated",
    "MemberEnrolled",
    "PartyAdmitted",
    "TrackOpened",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackOpened(Recorded):
    """The track was opened by the mediator's first principal ``by``; ``<party>/service`` is its node."""

    type: ClassVar[str] = "track.opened"
    track: TrackId
    title: Annotated[str, Text(200)]
    principal_key: NewKey
    service_key: NewKey

    @property
    def mediator(self) -> str:
        """The mediator party (the opener's)."""
        return party_of(self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyAdmitted(Recorded):
    """A party was admitted with its first principal."""

    type: ClassVar[str] = "party.admitted"
    party: PartyId
    kind: PartyKind
    principal: MemberId
    principal_key: NewKey


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEnrolled(Recorded):
    """A member was enrolled with a role and its first key."""

    type: ClassVar[str] = "member.enrolled"
    member: MemberId
    role: Role
    key: NewKey


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotated(Recorded):
    """A member's key ``old_key_id`` was revoked at ``at`` and ``key`` enrolled in its place."""

    type: ClassVar[str] = "key.rotated"
    member: MemberId
    old_key_id: KeyId
    key: NewKey


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRevoked(Recorded):
    """A member's key was revoked at ``at``."""

    type: ClassVar[str] = "key.revoked"
    member: MemberId
    key_id: KeyId


@dataclass(frozen=True, slots=True, kw_only=True)
class AgendaProposed(Recorded):
    """Agenda version ``agenda.version`` was proposed; it is current and unratified."""

    type: ClassVar[str] = "agenda.proposed"
    agenda: Agenda
    agenda_digest: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AgendaRatified(Recorded):
    """Principal ``by`` ratified agenda ``version`` (whose digest is ``agenda_digest``)."""

    type: ClassVar[str] = "agenda.ratified"
    version: Annotated[int, Integer(1)]
    agenda_digest: bytes
