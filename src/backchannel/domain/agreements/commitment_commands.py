"""Commands of commit-reveal: publish a commitment, reveal it.

===================  ================================================
PublishCommitment    a delegation principal or the mediator principal
RevealCommitment     a principal of the publishing party
===================  ================================================

Construction checks the shape of every field and raises one
:class:`~backchannel.domain.errors.SchemaViolationError` listing each bad field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from backchannel.domain.agreements.commitments import MAX_CONTENT, MAX_LABEL, MAX_SALT, MIN_SALT
from backchannel.domain.codec import LowerHex
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.ids import check_digest, check_message_id

__all__ = ["PublishCommitment", "RevealCommitment"]


def _text(value: object, name: str, maximum: int) -> list[Violation]:
    if not isinstance(value, str) or not 0 < len(value) <= maximum:
        return [Violation(name, "length", f"{name}: expected text of 1 to {maximum} characters")]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishCommitment(CommandEnvelope):
    """Publish ``commitment`` = SHA-256(salt || content) under ``label``; its id is this command's digest."""

    label: str
    commitment: bytes

    def _violations(self) -> list[Violation]:
        return _text(self.label, "label", MAX_LABEL) + check_digest(self.commitment, "commitment")


@dataclass(frozen=True, slots=True, kw_only=True)
class RevealCommitment(CommandEnvelope):
    """Reveal commitment ``commitment_id``: the ``salt`` and ``content`` it hashed."""

    commitment_id: str
    salt: Annotated[bytes, LowerHex(re.compile(r"(?:[0-9a-f]{2})*"))]  # any length here: see _violations
    content: str

    def _violations(self) -> list[Violation]:
        found = check_message_id(self.commitment_id, "commitment_id")
        salt: object = self.salt
        if not isinstance(salt, bytes) or not MIN_SALT <= len(salt) <= MAX_SALT:
            found.append(Violation("salt", "length", f"salt: expected {MIN_SALT} to {MAX_SALT} bytes"))
        return found + _text(self.content, "content", MAX_CONTENT)
