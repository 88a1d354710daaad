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
from typing import Annotated, ClassVar

from backchannel.domain._event_base import Recorded
from backchannel.domain.codec import LowerHex, Text
from backchannel.domain.errors import TrackStateError
from backchannel.domain.ids import MessageId, message_id_of
from backchannel.errors import DomainError

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
    label: Annotated[str, Text(MAX_LABEL)]
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
    label: str
    commitment: bytes

    @property
    def commitment_id(self) -> str:
        """The commitment's id: the hex of its command digest."""
        return message_id_of(self.command_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitmentRevealed(Recorded):
    """Principal ``by`` revealed commitment ``commitment_id``: its ``salt`` and ``content`` (verified)."""

    type: ClassVar[str] = "commitment.revealed"
    commitment_id: MessageId
    salt: Annotated[bytes, LowerHex(_SALT_HEX, f"{MIN_SALT} to {MAX_SALT} bytes as lowercase hex")]
    content: Annotated[str, Text(MAX_CONTENT)]
