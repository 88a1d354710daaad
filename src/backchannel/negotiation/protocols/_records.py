"""Result records and the private yes/no interface shared by every mediated protocol.

This module defines data and the input checks; it runs no protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError

__all__ = [
    "MEDIATOR",
    "Comparator",
    "ProtocolResult",
    "TraceStep",
    "TruthfulComparator",
    "as_utilities",
    "comparators_for",
]

MEDIATOR = -1
"""The ``actor`` of trace steps taken by the mediator."""


@dataclass(frozen=True)
class TraceStep:
    """One step of a protocol run.

    Attributes:
        round: The round (0-based) the step belongs to.
        actor: The party index, or :data:`MEDIATOR`.
        action: ``offer``, ``accept`` or ``reject`` (alternating offers); ``propose``, ``adopt``
            or ``keep`` (single text, with the parties' answers in ``votes``).
        outcome: The outcome index the step is about (None when there is none).
        t: The relative time of the step, in ``[0, 1]``.
        votes: Each party's private yes/no answer, for single-text steps.
    """

    round: int
    actor: int
    action: str
    outcome: int | None
    t: float
    votes: tuple[bool, ...] = ()


@dataclass(frozen=True)
class ProtocolResult:
    """How a protocol run ended.

    Attributes:
        protocol: The protocol's name.
        agreement: The agreed outcome index, or None (disagreement).
        rounds: Rounds used (``k + 1`` for an agreement in round ``k``; all rounds otherwise).
        trace: Every step, in order.
        utilities: Each party's utility for the agreement (its reserved value without one);
            filled in by the caller that knows the utilities, empty when unknown.
    """

    protocol: str
    agreement: int | None
    rounds: int
    trace: tuple[TraceStep, ...]
    utilities: tuple[float, ...] = ()

    @property
    def agreed(self) -> bool:
        """Whether the run ended with an agreement."""
        return self.agreement is not None

    def offers_by(self, party: int) -> list[int]:
        """Return the outcomes ``party`` offered, in order (alternating offers)."""
        return [
            s.outcome
            for s in self.trace
            if s.actor == party and s.action == "offer" and s.outcome is not None
        ]


class Comparator(Protocol):
    """What a party tells a single-text mediator: private yes/no answers, nothing more."""

    def better(self, candidate: int, current: int | None) -> bool:
        """Return whether ``candidate`` is strictly better for the party than ``current``.

        ``current is None`` means no text yet: compare with the party's reserved value.
        """

    def acceptable(self, outcome: int) -> bool:
        """Return whether ``outcome`` is worth at least the party's reserved value."""


@dataclass(frozen=True)
class TruthfulComparator:
    """A party that answers from its own utility array, truthfully.

    Attributes:
        utility: The party's utility per outcome index.
        reserved_value: What the party gets without an agreement.
    """

    utility: NDArray[np.float64]
    reserved_value: float

    def _value(self, outcome: int | None) -> float:
        return self.reserved_value if outcome is None else float(self.utility[outcome])

    def better(self, candidate: int, current: int | None) -> bool:
        """Return ``u[candidate] > u[current]`` (or the reserved value when there is no text)."""
        return float(self.utility[candidate]) > self._value(current)

    def acceptable(self, outcome: int) -> bool:
        """Return ``u[outcome] >= reserved value``."""
        return float(self.utility[outcome]) >= self.reserved_value


def as_utilities(
    utilities: NDArray[np.float64], reserved: NDArray[np.float64] | Sequence[float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check an ``(n_outcomes, n_parties)`` utility array and its reserved values.

    Args:
        utilities: Column ``p`` is party ``p``'s utility per outcome index.
        reserved: One reserved value per party.

    Returns:
        The two arrays as float64.

    Raises:
        ConfigurationError: Naming the argument and the rule that failed.
    """
    u = np.asarray(utilities, dtype=np.float64)
    r = np.asarray(reserved, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] == 0 or u.shape[1] < 2:
        raise ConfigurationError(
            f"utilities: must be (n_outcomes >= 1, n_parties >= 2) (got shape {u.shape})"
        )
    if r.shape != (u.shape[1],):
        raise ConfigurationError(f"reserved: needs one value per party ({u.shape[1]}), got shape {r.shape}")
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(r))):
        raise ConfigurationError("utilities: every utility and reserved value must be finite")
    return u, r


def comparators_for(
    utilities: NDArray[np.float64], reserved: NDArray[np.float64] | Sequence[float]
) -> list[TruthfulComparator]:
    """Return one truthful comparator per party (column) of ``utilities``."""
    u, r = as_utilities(utilities, reserved)
    return [TruthfulComparator(u[:, p].copy(), float(r[p])) for p in range(u.shape[1])]
