"""Commitments: commit now, reveal later (commit-reveal), as records and events.

A party publishes a **commitment**: a label ("next steps agreed") and
``SHA-256(salt || content)`` in hex, where ``salt`` is at least 16 random
bytes the client chose and keeps, and ``content`` the UTF-8 bytes of a text.
Later a principal of the same party **reveals** salt and content; the rules
(``_commitment_rules``) recompute the hash with :func:`commitment_digest` and
refuse a mismatch with :class:`CommitmentMismatchError`, appending nothing. A
commitment is revealed at most once.

A commitment's id is the hex SHA-256 of the signed command that published it
(as a message's id is), so it is unique and known to the publisher at once.

Events: ``commitment.published`` and ``commitment.revealed``. This module is
pure (``hashlib`` only).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, open_event
from backchannel.domain.errors import TrackStateError
from backchannel.domain.ids import check_message_id, message_id_of
from backchannel.domain.values import JSONValue
from backchannel.errors import DomainError, EncodingError

__all__ = [
    "MAX_CONTENT",
    "MAX_LABEL",
    "MAX_SALT",
    "MIN_SALT",
    "CommitmentMismatchError",
    "CommitmentPublished",
    "CommitmentRecord",
    "CommitmentRevealed",
    "CommitmentStateError",
    "UnknownCommitmentError",
    "commitment_digest",
]

MIN_SALT = 16
"""The shortest salt, in bytes."""
MAX_SALT = 64
"""The longest salt, in bytes."""
MAX_LABEL = 200
"""The longest label, in characters."""
MAX_CONTENT = 16_384
"""The longest revealed content, in characters."""
_SALT_HEX = re.compile(rf"(?:[0-9a-f]{{2}}){{{MIN_SALT},{MAX_SALT}}}")


class UnknownCommitmentError(DomainError):
    """No commitment of that id was published on the track."""


class CommitmentStateError(TrackStateError):
    """The commitment was already revealed."""


class CommitmentMismatchError(DomainError):
    """A reveal whose ``SHA-256(salt || content)`` is not the published hash."""


def commitment_digest(salt: bytes, content: str) -> bytes:
    """``SHA-256(salt || UTF-8(content))``: what a commitment publishes."""
    return hashlib.sha256(salt + content.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class CommitmentRecord:
    """A published commitment and, once revealed, what it hid.

    Attributes:
        commitment_id: Hex of the publishing command's digest.
        party: The publishing party (its principals may reveal).
        by: The member who published it.
        label: What it is about.
        commitment: ``SHA-256(salt || content)``.
        at: When it was published.
        revealed_by: Who revealed it (``None`` until revealed).
        revealed_at: When.
        salt: The revealed salt.
        content: The revealed content.
    """

    commitment_id: str
    party: str
    by: str
    label: str
    commitment: bytes
    at: datetime
    revealed_by: str | None = None
    revealed_at: datetime | None = None
    salt: bytes | None = None
    content: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitmentPublished(Recorded):
    """Member ``by`` published ``commitment`` (``SHA-256(salt || content)``) under ``label``."""

    type: ClassVar[str] = "commitment.published"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"label", "commitment"})
    label: str
    commitment: bytes

    @property
    def commitment_id(self) -> str:
        """The commitment's id: the hex of its command digest."""
        return message_id_of(self.command_digest)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {**self.common_dict(), "label": self.label, "commitment": self.commitment.hex()}

    @classmethod
    def from_dict(cls, value: JSONValue) -> CommitmentPublished:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(**common, label=r.text("label", MAX_LABEL), commitment=r.hex32("commitment"))


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitmentRevealed(Recorded):
    """Principal ``by`` revealed commitment ``commitment_id``: its ``salt`` and ``content`` (verified)."""

    type: ClassVar[str] = "commitment.revealed"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"commitment_id", "salt", "content"})
    commitment_id: str
    salt: bytes
    content: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (the salt in lowercase hex)."""
        return {
            **self.common_dict(),
            "commitment_id": self.commitment_id,
            "salt": self.salt.hex(),
            "content": self.content,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> CommitmentRevealed:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            salt = r.raw("salt")
            if not isinstance(salt, str) or not _is_salt_hex(salt):
                raise EncodingError(
                    f"{cls.type}.salt: expected {MIN_SALT} to {MAX_SALT} bytes as lowercase hex"
                )
            return cls(
                **common,
                commitment_id=r.checked("commitment_id", check_message_id),
                salt=bytes.fromhex(salt),
                content=r.text("content", MAX_CONTENT),
            )


def _is_salt_hex(text: str) -> bool:
    return _SALT_HEX.fullmatch(text) is not None
