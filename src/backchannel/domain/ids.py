"""Identifiers and kinds of the track domain: tracks, parties, members, keys, messages.

Identifier forms (all lowercase ASCII, checked by the ``check_*`` functions,
which return field-level :class:`~backchannel.domain.errors.Violation` s)::

    track         [a-z0-9][a-z0-9._-]{0,63}            us-iran-nuclear
    party         [a-z0-9][a-z0-9_-]{0,31}             iran, oman
    member        <party>/<name>, name [a-z0-9][a-z0-9._-]{0,31}
                                                       iran/araghchi, oman/service
    key id        ed25519:<32 lowercase hex>           derived from the public key
    message id    64 lowercase hex                     SHA-256 of the signed command that created it
    idempotency   [A-Za-z0-9._~:-]{1,128}              chosen by the client

The member name ``service`` is reserved: ``<mediator party>/service`` is the
service node that signs the log and the broker's decisions.

The kinds (:class:`PartyKind`, :class:`Role`, :class:`MessageKind`,
:class:`Priority`, :class:`Route`) are :class:`enum.StrEnum` s whose values
are their JSON form.

This module does not decide who may do what (see :mod:`backchannel.domain.track`)
and does no I/O.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, TypeAlias

from backchannel.domain.codec import Checked
from backchannel.domain.errors import Violation

__all__ = [
    "SERVICE_NAME",
    "IdempotencyKey",
    "KeyId",
    "MemberId",
    "MessageId",
    "MessageKind",
    "PartyId",
    "PartyKind",
    "Priority",
    "Role",
    "Route",
    "TrackId",
    "check_digest",
    "check_idempotency_key",
    "check_key_id",
    "check_member_id",
    "check_message_id",
    "check_party_id",
    "check_track_id",
    "member_name",
    "message_id_of",
    "party_of",
    "service_member",
]

SERVICE_NAME = "service"
"""The reserved member name of the mediator's service node."""

_TRACK = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_PARTY = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_MEMBER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}/[a-z0-9][a-z0-9._-]{0,31}")
_KEY_ID = re.compile(r"ed25519:[0-9a-f]{32}")
_MESSAGE_ID = re.compile(r"[0-9a-f]{64}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._~:-]{1,128}")


class PartyKind(StrEnum):
    """What a party is to the track."""

    MEDIATOR = "mediator"
    """Routes, relays and reframes; exactly one per track (the opener's party)."""
    DELEGATION = "delegation"
    """A negotiating party: sends proposals, ratifies the agenda."""
    WITNESS = "witness"
    """Co-signs checkpoints; sees leaf hashes only, never bodies."""
    INSPECTOR = "inspector"
    """Files attestations; may be sent messages."""


class Role(StrEnum):
    """What a member may do within its party."""

    PRINCIPAL = "principal"
    """Signs agreements, ratifies, enrols and governs the party's keys."""
    DELEGATE = "delegate"
    """May send messages."""
    OBSERVER = "observer"
    """Reads what its party is shown."""
    SERVICE = "service"
    """The mediator's service node (``<mediator>/service``) only."""


class MessageKind(StrEnum):
    """What a message is."""

    PROPOSAL = "proposal"
    COUNTER_PROPOSAL = "counter_proposal"
    STATEMENT = "statement"
    QUESTION = "question"
    ANSWER = "answer"

    @property
    def is_proposal(self) -> bool:
        """True for proposals and counter-proposals (their values must fit the ratified agenda)."""
        return self in {MessageKind.PROPOSAL, MessageKind.COUNTER_PROPOSAL}


class Priority(StrEnum):
    """Delivery priority: ``flash`` before ``priority`` before ``routine``."""

    FLASH = "flash"
    PRIORITY = "priority"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """0 for flash, 1 for priority, 2 for routine (lower is delivered first)."""
        return _RANKS[self]


_RANKS = {Priority.FLASH: 0, Priority.PRIORITY: 1, Priority.ROUTINE: 2}


class Route(StrEnum):
    """How a message reached a party."""

    FORWARDED = "forwarded"
    """Verbatim: the author's signed command, so the recipient verifies the author."""
    REFRAMED = "reframed"
    """New text, signed by the mediator, citing the original's digest."""


def _check(value: object, field: str, pattern: re.Pattern[str], form: str) -> list[Violation]:
    if not isinstance(value, str):
        return [Violation(field, "type", f"{field}: expected text ({form}), got {type(value).__name__}")]
    if not pattern.fullmatch(value):
        return [Violation(field, "pattern", f"{field}: {value[:80]!r} does not match {form}")]
    return []


def check_track_id(value: object, field: str = "track") -> list[Violation]:
    """Violations of a track id (empty when valid)."""
    return _check(value, field, _TRACK, "[a-z0-9][a-z0-9._-]{0,63}")


def check_party_id(value: object, field: str = "party") -> list[Violation]:
    """Violations of a party id (empty when valid)."""
    return _check(value, field, _PARTY, "[a-z0-9][a-z0-9_-]{0,31}")


def check_member_id(value: object, field: str = "member", *, allow_service: bool = True) -> list[Violation]:
    """Violations of a member id ``party/name`` (empty when valid).

    Args:
        value: The candidate id.
        field: The field name for the violation.
        allow_service: Accept the reserved name ``service`` (false where a
            command would create a member: that name is the track's to give).
    """
    found = _check(value, field, _MEMBER, "party/name")
    if not found and not allow_service and member_name(str(value)) == SERVICE_NAME:
        found.append(Violation(field, "reserved", f"{field}: the member name {SERVICE_NAME!r} is reserved"))
    return found


def check_key_id(value: object, field: str = "key_id") -> list[Violation]:
    """Violations of an Ed25519 key id (empty when valid)."""
    return _check(value, field, _KEY_ID, "ed25519:<32 lowercase hex>")


def check_message_id(value: object, field: str = "message_id") -> list[Violation]:
    """Violations of a message id (empty when valid)."""
    return _check(value, field, _MESSAGE_ID, "64 lowercase hex")


def check_idempotency_key(value: object, field: str = "idempotency_key") -> list[Violation]:
    """Violations of an idempotency key (empty when valid)."""
    return _check(value, field, _IDEMPOTENCY_KEY, "[A-Za-z0-9._~:-]{1,128}")


def check_digest(value: object, field: str) -> list[Violation]:
    """Violations of a SHA-256 digest: exactly 32 bytes (empty when valid)."""
    if not isinstance(value, bytes) or len(value) != 32:
        return [Violation(field, "type", f"{field}: expected 32 bytes (a SHA-256 digest)")]
    return []


TrackId: TypeAlias = Annotated[str, Checked(check_track_id)]
"""A track id field: its JSON form is checked by :func:`check_track_id`."""
PartyId: TypeAlias = Annotated[str, Checked(check_party_id)]
"""A party id field (:func:`check_party_id`)."""
MemberId: TypeAlias = Annotated[str, Checked(check_member_id)]
"""A member id field (:func:`check_member_id`)."""
KeyId: TypeAlias = Annotated[str, Checked(check_key_id)]
"""A key id field (:func:`check_key_id`)."""
MessageId: TypeAlias = Annotated[str, Checked(check_message_id)]
"""A message id field (:func:`check_message_id`)."""
IdempotencyKey: TypeAlias = Annotated[str, Checked(check_idempotency_key)]
"""An idempotency key field (:func:`check_idempotency_key`)."""


def party_of(member_id: str) -> str:
    """The party part of a member id (``iran/araghchi`` -> ``iran``)."""
    return member_id.partition("/")[0]


def member_name(member_id: str) -> str:
    """The name part of a member id (``iran/araghchi`` -> ``araghchi``)."""
    return member_id.partition("/")[2]


def service_member(mediator_party: str) -> str:
    """The member id of the mediator's service node (``oman`` -> ``oman/service``)."""
    return f"{mediator_party}/{SERVICE_NAME}"


def message_id_of(digest: bytes) -> str:
    """The id of the message a command with this digest created (its lowercase hex)."""
    return digest.hex()
