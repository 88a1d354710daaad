"""Domain errors: a rule of the negotiation was broken (the caller's fault; never retry).

Every class here is a :class:`~backchannel.errors.DomainError`::

    DomainError
    ├── SchemaViolationError     a payload does not fit its schema; carries field-level violations
    ├── NotAuthorizedError       wrong party or role for the command, or another member's key
    ├── UnknownPartyError / UnknownMemberError / UnknownKeyError / UnknownMessageError
    ├── KeyUnusableError         carries key_id and when
    │   ├── KeyRevokedError      revoked (or rotated out) at or before now
    │   └── KeyExpiredError      expired at or before now
    ├── AgendaNotRatifiedError   no proposal flows before every delegation principal ratified
    ├── StaleAgendaError         names an agenda version other than the current one; carries current
    ├── AgendaMismatchError      ratification of a digest other than the proposed one
    ├── InvalidRecipientError    a message cannot go to that party
    ├── IdempotencyConflictError same member and idempotency key, different command
    └── TrackStateError          illegal in the current state (opened twice, enrolled twice, ...)

They carry no HTTP status: the API layer maps families to responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backchannel.errors import DomainError

__all__ = [
    "AgendaMismatchError",
    "AgendaNotRatifiedError",
    "IdempotencyConflictError",
    "InvalidRecipientError",
    "KeyExpiredError",
    "KeyRevokedError",
    "KeyUnusableError",
    "NotAuthorizedError",
    "SchemaViolationError",
    "StaleAgendaError",
    "TrackStateError",
    "UnknownKeyError",
    "UnknownMemberError",
    "UnknownMessageError",
    "UnknownPartyError",
    "Violation",
]


@dataclass(frozen=True, slots=True)
class Violation:
    """One field-level reason a payload was refused (a NACK the sender sees).

    Attributes:
        field: The offending field, dotted (``enrichment_cap_pct``, ``issues.2.max``).
        rule: A stable machine-readable rule name (``maximum``, ``one_of``, ``unknown_field``).
        message: A human explanation naming the field and the rule.
    """

    field: str
    rule: str
    message: str


class SchemaViolationError(DomainError):
    """A payload does not fit its schema (the agenda, or the agenda's own rules)."""

    def __init__(self, violations: list[Violation]) -> None:
        """Create the error from one or more violations (never zero)."""
        if not violations:
            raise ValueError("SchemaViolationError needs at least one violation")
        self.violations = tuple(violations)
        super().__init__("; ".join(v.message for v in self.violations))


class NotAuthorizedError(DomainError):
    """The signer's party, role or key does not allow this command (or this key is another member's)."""


class UnknownPartyError(DomainError):
    """No party of that id has been admitted to the track."""


class UnknownMemberError(DomainError):
    """No member of that id has been enrolled in the track."""


class UnknownKeyError(DomainError):
    """The member holds no key of that id."""


class KeyUnusableError(DomainError):
    """A key may no longer sign: revoked or expired (see the subclasses).

    Attributes:
        key_id: The key refused.
        when: The instant it stopped being usable.
    """

    def __init__(self, message: str, *, key_id: str, when: datetime) -> None:
        """Create the error; ``message`` names the key and the instant."""
        super().__init__(message)
        self.key_id = key_id
        self.when = when


class KeyRevokedError(KeyUnusableError):
    """The key was revoked (or rotated out) at ``when``, at or before the decision time."""


class KeyExpiredError(KeyUnusableError):
    """The key expired at ``when``, at or before the decision time."""


class AgendaNotRatifiedError(DomainError):
    """No agenda yet, or the current version is not ratified by every delegation principal."""


class StaleAgendaError(DomainError):
    """A command names an agenda version other than the one it must build on.

    Attributes:
        current: The current agenda version (0 when there is none yet).
    """

    def __init__(self, message: str, *, current: int) -> None:
        """Create the error, carrying the current version so the caller can rebase."""
        super().__init__(message)
        self.current = current


class AgendaMismatchError(DomainError):
    """A ratification names a digest other than the proposed version's."""


class UnknownMessageError(DomainError):
    """No message of that id exists, or the signer's party may not see it."""


class InvalidRecipientError(DomainError):
    """A message cannot be delivered to that party (its own author's party, the mediator, a witness)."""


class IdempotencyConflictError(DomainError):
    """The member already used this idempotency key for a different command."""


class TrackStateError(DomainError):
    """The command is illegal in the track's current state (opened twice, already enrolled, ...)."""
