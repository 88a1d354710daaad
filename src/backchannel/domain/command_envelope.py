"""The envelope every command carries: :class:`CommandEnvelope`.

ADR-0011's signed command has these fields, whatever the command:

- ``track``: the track it is for;
- ``member``: who signed it (``party/name``);
- ``key_id``: the key that signed it, which must be usable at decision time;
- ``issued_at``: the signer's clock (recorded, not trusted);
- ``digest``: SHA-256 of the signed command, computed by the service;
- ``idempotency_key``: optional; a retry with the same key and digest returns
  the first result and appends nothing.

Every command class (the track's own in :mod:`backchannel.domain.commands`,
the agreements' in :mod:`backchannel.domain.agreements`) subclasses it and adds
its fields and their shape checks in ``_violations``; its feature registers it
(:mod:`backchannel.domain.features`). :data:`Command` names any of them. It
lives in a module of its own, importing nothing of the command modules, so
that any of them can import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.ids import (
    check_digest,
    check_idempotency_key,
    check_key_id,
    check_member_id,
    check_track_id,
)
from backchannel.domain.keys import is_aware

__all__ = ["Command", "CommandEnvelope"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandEnvelope:
    """The fields every command carries (see the module docstring)."""

    track: str
    member: str
    key_id: str
    issued_at: datetime
    digest: bytes
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        """Check every field's shape, then the subclass's; raise all violations at once."""
        found = check_track_id(self.track) + check_member_id(self.member) + check_key_id(self.key_id)
        if not is_aware(self.issued_at):
            found.append(Violation("issued_at", "type", "issued_at: expected an aware time"))
        found += check_digest(self.digest, "digest")
        if self.idempotency_key is not None:
            found += check_idempotency_key(self.idempotency_key)
        found += self._violations()
        if found:
            raise SchemaViolationError(found)

    def _violations(self) -> list[Violation]:
        """The subclass's own shape violations (none here)."""
        return []


Command: TypeAlias = CommandEnvelope
"""Any command: every command class subclasses :class:`CommandEnvelope` and is registered by its feature."""
