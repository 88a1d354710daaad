"""The reference engine: one stacked-alternating-offers negotiation, step by step, through the mediator.

This module is the executable specification of the rules written in the shared scenario file
(``sao-3x10-boulware-vs-conceder.json``); each docstring quotes the rule it implements.
:mod:`backchannel.negotiation.vector` plays many negotiations at once by the same rules and must give
the same agreement in the same round.

Protocol (``protocol.rules``):

- "rounds k = 0 .. n_rounds-1; in every round the opener acts first, then the other party";
- "acting = if there is no standing offer: propose; else respond to the standing offer (made by the
  other party): accept -> agreement on it, end; reject -> propose a counter-offer which becomes the
  standing offer";
- "making an offer counts as accepting it (offering_is_accepting); an agreement needs the other
  party's acceptance";
- "relative time seen by both parties in round k: t_k = (k + 1) / (n_rounds + 1)";
- "no agreement after round n_rounds-1 -> disagreement (timeout)";
- "rounds_to_agreement = k + 1 for an agreement reached in round k".

Parties never address each other: every offer goes to the :class:`Mediator`, which relays it verbatim
(the same :class:`Offer` object, unchanged) to the other party and keeps the trace.

One rule is ours, because the file's profiles never reach it: a party whose threshold lies above
every outcome (its reserved value exceeds its best utility) has nothing to offer, and the negotiation
ends there without agreement (``ended = "no_offer"``).

This module reads no clock and draws no randomness: the agents are deterministic.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.scenario import AgentSpec, Opener, Scenario

__all__ = [
    "AGENT_EXPONENTS",
    "AspirationAgent",
    "Mediator",
    "NegotiationRecord",
    "Offer",
    "aspiration",
    "play_profile",
    "relative_time",
    "run_sao",
]

AGENT_EXPONENTS = {"boulware": 4.0, "linear": 1.0, "conceder": 0.25}
"""Named aspiration agents and their default exponents (the scenario's Boulware and Conceder)."""


def relative_time(k: int, n_rounds: int) -> float:
    """Relative time in round ``k``: "t_k = (k + 1) / (n_rounds + 1)", seen by both parties."""
    return (k + 1) / (n_rounds + 1)


def aspiration(t: float, exponent: float, max_aspiration: float = 1.0) -> float:
    """The aspiration curve: "a(t) = max_aspiration * (1 - t ** exponent)" (``aspiration.formula``)."""
    return float(max_aspiration * (1 - t**exponent))


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as sent to the mediator: who made it, which outcome index, in which round."""

    sender: str
    outcome: int
    round: int


class Mediator:
    """Relays offers between the parties verbatim and keeps the trace.

    Parties address the mediator only; :meth:`relay` hands the other party the very same
    :class:`Offer` (no reframing in this protocol).
    """

    def __init__(self) -> None:
        """Start with an empty trace."""
        self.trace: list[Offer] = []

    def relay(self, offer: Offer) -> Offer:
        """Record ``offer`` and return it unchanged for the other party."""
        self.trace.append(offer)
        return offer


class AspirationAgent:
    """A time-based aspiration agent (Boulware for exponent > 1, linear at 1, conceder below 1).

    The rules (``agents.common_rules``):

    - "u_hi: max over all outcomes of u_p(o)";
    - "u_lo: max(min over all outcomes of u_p(o), reserved_value)";
    - "thr(t) = max(u_lo, u_lo + a(t) * (u_hi - u_lo) - tolerance)";
    - "accept the standing offer o iff thr(t) <= u_p(o) <= u_hi";
    - "offer the outcome with the LOWEST utility among outcomes with u_p(o) >= thr(t)
      (deterministic; no randomness)"; among outcomes of equal utility, the lowest outcome index.
    """

    def __init__(
        self,
        utilities: NDArray[np.float64],
        reserved_value: float,
        spec: AgentSpec,
        tolerance: float,
    ) -> None:
        """Prepare the agent: its utility per outcome index, sorted once for offer choice.

        Args:
            utilities: The party's utility of each outcome index (1-D float64).
            reserved_value: The party's utility of no agreement.
            spec: The aspiration curve (exponent and maximum).
            tolerance: Subtracted from the aspiration threshold.
        """
        self.spec = spec
        self.tolerance = tolerance
        self._utilities: list[float] = np.asarray(utilities, dtype=np.float64).tolist()
        self.u_hi: float = max(self._utilities)
        self.u_lo: float = max(min(self._utilities), reserved_value)
        ranked = np.argsort(utilities, kind="stable")  # by utility, equal utilities by outcome index
        self._ranked: list[int] = ranked.tolist()
        self._ranked_utilities: list[float] = np.asarray(utilities, dtype=np.float64)[ranked].tolist()
        self._last: tuple[float, float] = (-1.0, 0.0)  # (t, thr(t)): one computation per turn

    @classmethod
    def named(
        cls, name: str, utilities: NDArray[np.float64], reserved_value: float, tolerance: float
    ) -> AspirationAgent:
        """An agent by name: ``boulware``, ``linear`` or ``conceder`` (see :data:`AGENT_EXPONENTS`).

        Raises:
            ConfigurationError: An unknown agent name.
        """
        if name not in AGENT_EXPONENTS:
            raise ConfigurationError(
                f"agent: unknown agent type {name!r} (known: {', '.join(AGENT_EXPONENTS)})"
            )
        return cls(utilities, reserved_value, AgentSpec(name, AGENT_EXPONENTS[name]), tolerance)

    def threshold(self, t: float) -> float:
        """The threshold: "thr(t) = max(u_lo, u_lo + a(t) * (u_hi - u_lo) - tolerance)"."""
        if self._last[0] == t:
            return self._last[1]
        a = aspiration(t, self.spec.exponent, self.spec.max_aspiration)
        threshold = max(self.u_lo, self.u_lo + a * (self.u_hi - self.u_lo) - self.tolerance)
        self._last = (t, threshold)
        return threshold

    def respond(self, outcome: int, t: float) -> bool:
        """Acceptance: "accept the standing offer o iff thr(t) <= u_p(o) <= u_hi"."""
        return self.threshold(t) <= self._utilities[outcome] <= self.u_hi

    def propose(self, t: float) -> int | None:
        """The outcome with the lowest utility at or above ``thr(t)`` (``None`` if there is none)."""
        position = bisect.bisect_left(self._ranked_utilities, self.threshold(t))
        return self._ranked[position] if position < len(self._ranked) else None


@dataclass(frozen=True, slots=True)
class NegotiationRecord:
    """How one negotiation ended.

    Attributes:
        agreement: The agreed outcome index, or ``None``.
        rounds: ``k + 1`` for an agreement (or an end) in round ``k``; ``n_rounds`` on timeout.
        ended: ``agreement``, ``timeout`` or ``no_offer``.
        trace: Every offer, in the order the mediator relayed them.
    """

    agreement: int | None
    rounds: int
    ended: Literal["agreement", "timeout", "no_offer"]
    trace: tuple[Offer, ...]

    def offers_by(self, party: str) -> tuple[int, ...]:
        """The outcome indices ``party`` offered, in order."""
        return tuple(offer.outcome for offer in self.trace if offer.sender == party)


def run_sao(parties: Sequence[tuple[str, AspirationAgent]], n_rounds: int) -> NegotiationRecord:
    """Play one stacked-alternating-offers negotiation through a mediator.

    Args:
        parties: ``(name, agent)`` pairs in acting order: the opener first.
        n_rounds: The deadline in rounds.

    Returns:
        The record: agreement (or not), rounds and the relayed trace.

    Raises:
        ConfigurationError: Fewer than two parties or ``n_rounds < 1``.
    """
    if len(parties) < 2 or n_rounds < 1:
        raise ConfigurationError("parties: need at least two parties and n_rounds >= 1")
    mediator = Mediator()
    standing: Offer | None = None
    for k in range(n_rounds):
        t = relative_time(k, n_rounds)
        for name, agent in parties:
            if standing is not None and agent.respond(standing.outcome, t):
                return NegotiationRecord(standing.outcome, k + 1, "agreement", tuple(mediator.trace))
            outcome = agent.propose(t)
            if outcome is None:
                return NegotiationRecord(None, k + 1, "no_offer", tuple(mediator.trace))
            standing = mediator.relay(Offer(name, outcome, k))
    return NegotiationRecord(None, n_rounds, "timeout", tuple(mediator.trace))


def play_profile(scenario: Scenario, profile: int, opener: Opener) -> NegotiationRecord:
    """Play profile ``profile`` of ``scenario`` with ``opener`` proposing first.

    Raises:
        ConfigurationError: An unknown profile or opener.
    """
    if not 0 <= profile < len(scenario.profiles):
        raise ConfigurationError(f"profile: {profile} outside [0, {len(scenario.profiles)})")
    if opener not in ("A", "B"):
        raise ConfigurationError(f"opener: must be 'A' or 'B' (got {opener!r})")
    chosen = scenario.profiles[profile]
    agents = {
        party: AspirationAgent(
            prefs.utilities(scenario.space), prefs.reserved_value, scenario.agents[party], scenario.tolerance
        )
        for party, prefs in (("A", chosen.a), ("B", chosen.b))
    }
    order = ("A", "B") if opener == "A" else ("B", "A")
    return run_sao([(party, agents[party]) for party in order], scenario.n_rounds)
