"""The events of membership, keys and the agenda (opened, admitted, enrolled, rotated, revoked...).

Re-exported by :mod:`backchannel.domain.events`, which describes the JSON
encodings common to every event. This module does not decide or apply
anything (see :mod:`backchannel.domain.features.membership` and
:mod:`backchannel.domain.features.agenda`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, key_from_dict, key_to_dict, open_event
from backchannel.domain.agenda import Agenda
from backchannel.domain.ids import (
    PartyKind,
    Role,
    check_key_id,
    check_member_id,
    check_party_id,
    check_track_id,
    party_of,
)
from backchannel.domain.keys import NewKey
from backchannel.domain.values import JSONValue

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
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"track", "title", "principal_key", "service_key"})
    track: str
    title: str
    principal_key: NewKey
    service_key: NewKey

    @property
    def mediator(self) -> str:
        """The mediator party (the opener's)."""
        return party_of(self.by)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "track": self.track,
            "title": self.title,
            "principal_key": key_to_dict(self.principal_key),
            "service_key": key_to_dict(self.service_key),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> TrackOpened:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                track=r.checked("track", check_track_id),
                title=r.text("title", 200),
                principal_key=key_from_dict(r.raw("principal_key"), f"{cls.type}.principal_key"),
                service_key=key_from_dict(r.raw("service_key"), f"{cls.type}.service_key"),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyAdmitted(Recorded):
    """A party was admitted with its first principal."""

    type: ClassVar[str] = "party.admitted"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"party", "kind", "principal", "principal_key"})
    party: str
    kind: PartyKind
    principal: str
    principal_key: NewKey

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "party": self.party,
            "kind": self.kind.value,
            "principal": self.principal,
            "principal_key": key_to_dict(self.principal_key),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> PartyAdmitted:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                party=r.checked("party", check_party_id),
                kind=r.kind("kind", PartyKind),
                principal=r.checked("principal", check_member_id),
                principal_key=key_from_dict(r.raw("principal_key"), f"{cls.type}.principal_key"),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEnrolled(Recorded):
    """A member was enrolled with a role and its first key."""

    type: ClassVar[str] = "member.enrolled"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"member", "role", "key"})
    member: str
    role: Role
    key: NewKey

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "member": self.member,
            "role": self.role.value,
            "key": key_to_dict(self.key),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> MemberEnrolled:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                member=r.checked("member", check_member_id),
                role=r.kind("role", Role),
                key=key_from_dict(r.raw("key"), f"{cls.type}.key"),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotated(Recorded):
    """A member's key ``old_key_id`` was revoked at ``at`` and ``key`` enrolled in its place."""

    type: ClassVar[str] = "key.rotated"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"member", "old_key_id", "key"})
    member: str
    old_key_id: str
    key: NewKey

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "member": self.member,
            "old_key_id": self.old_key_id,
            "key": key_to_dict(self.key),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> KeyRotated:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                member=r.checked("member", check_member_id),
                old_key_id=r.checked("old_key_id", check_key_id),
                key=key_from_dict(r.raw("key"), f"{cls.type}.key"),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRevoked(Recorded):
    """A member's key was revoked at ``at``."""

    type: ClassVar[str] = "key.revoked"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"member", "key_id"})
    member: str
    key_id: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {**self.common_dict(), "member": self.member, "key_id": self.key_id}

    @classmethod
    def from_dict(cls, value: JSONValue) -> KeyRevoked:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                member=r.checked("member", check_member_id),
                key_id=r.checked("key_id", check_key_id),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AgendaProposed(Recorded):
    """Agenda version ``agenda.version`` was proposed; it is current and unratified."""

    type: ClassVar[str] = "agenda.proposed"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"agenda", "agenda_digest"})
    agenda: Agenda
    agenda_digest: bytes

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "agenda": self.agenda.to_dict(),
            "agenda_digest": self.agenda_digest.hex(),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> AgendaProposed:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common, agenda=Agenda.from_dict(r.raw("agenda")), agenda_digest=r.hex32("agenda_digest")
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AgendaRatified(Recorded):
    """Principal ``by`` ratified agenda ``version`` (whose digest is ``agenda_digest``)."""

    type: ClassVar[str] = "agenda.ratified"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"version", "agenda_digest"})
    version: int
    agenda_digest: bytes

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {**self.common_dict(), "version": self.version, "agenda_digest": self.agenda_digest.hex()}

    @classmethod
    def from_dict(cls, value: JSONValue) -> AgendaRatified:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(**common, version=r.integer("version", 1), agenda_digest=r.hex32("agenda_digest"))
