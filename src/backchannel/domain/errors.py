"""Domain errors: a rule of the negotiation was broken (the caller's fault; never retry).

They carry no HTTP status: the API layer maps families to responses.
"""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.errors import DomainError

__all__ = ["SchemaViolationError", "Violation"]


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
