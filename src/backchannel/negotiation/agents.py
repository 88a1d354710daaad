"""Ready-made negotiating agents, built from the BOA parts of :mod:`backchannel.negotiation.boa`.

- time-based aspiration agents (:func:`boulware`, :func:`linear`, :func:`conceder`, any exponent
  with :func:`aspiration`), following the rules written in the shared scenario file
  ``sao-3x10-boulware-vs-conceder.json`` (threshold ``thr(t) = max(u_lo, u_lo + a(t)(u_hi - u_lo)
  - tolerance)``, ``a(t) = max_aspiration (1 - t^e)``; offer the cheapest outcome above the
  threshold; accept when ``thr(t) <= u(o) <= u_hi``);
- tit-for-tat, relative or absolute (:func:`tit_for_tat`);
- a hardliner that only ever offers and accepts its best outcome (:func:`hardliner`);
- a random agent drawing from the agent's own :class:`numpy.random.Generator` (:func:`random_agent`);
- :func:`make_agent`, which builds any of them from a name (for tournaments and the CLI).

Agents see only their own utility array and the offers they receive. This module does not run a
negotiation; see :mod:`backchannel.negotiation.protocols`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backchannel.errors import ConfigurationError
from backchannel.negotiation.boa import AcceptNext, Agent, AgentView, BOAAgent

__all__ = [
    "AGENT_NAMES",
    "AspirationAcceptance",
    "AspirationBidding",
    "HardlinerAcceptance",
    "RandomAcceptance",
    "RandomBidding",
    "TitForTatBidding",
    "aspiration",
    "boulware",
    "conceder",
    "hardliner",
    "linear",
    "make_agent",
    "random_agent",
    "tit_for_tat",
]


@dataclass(frozen=True)
class AspirationBidding:
    """Time-based concession: the aspiration ``a(t) = max_aspiration * (1 - t ** exponent)``.

    ``exponent > 1`` concedes late (Boulware), ``1`` linearly, ``< 1`` early (Conceder).

    Attributes:
        exponent: The concession exponent ``e > 0``.
        max_aspiration: The aspiration at ``t = 0``.
        tolerance: Subtracted from the threshold (the shared scenario uses ``1e-4``).
    """

    exponent: float
    max_aspiration: float = 1.0
    tolerance: float = 1e-4

    def threshold(self, view: AgentView, t: float) -> float:
        """Return ``thr(t) = max(u_lo, u_lo + a(t) * (u_hi - u_lo) - tolerance)`` (memoised per view)."""
        key = (self, t)
        found = view.memo.get(key)
        if found is None:
            a = self.max_aspiration * (1.0 - float(t**self.exponent))
            u_lo, u_hi = view.u_lo, view.u_hi
            found = view.memo[key] = max(u_lo, u_lo + a * (u_hi - u_lo) - self.tolerance)
        return found

    def bid(self, view: AgentView, t: float) -> int:
        """Return the outcome with the lowest utility at or above the threshold."""
        return view.lowest_at_least(self.threshold(view, t))


@dataclass(frozen=True)
class AspirationAcceptance:
    """Accept iff ``thr(t) <= u(offer) <= u_hi`` for the given aspiration bidding."""

    bidding: AspirationBidding

    def accept(self, view: AgentView, offer: int, t: float, planned: int) -> bool:  # noqa: ARG002
        """Apply the scenario's acceptance rule."""
        value = float(view.utility[offer])
        return self.bidding.threshold(view, t) <= value <= view.u_hi


@dataclass(frozen=True)
class TitForTatBidding:
    """Concede as much as the opponent did, measured in the agent's own utility.

    The opponent's concession is how much better for the agent its latest offer is than its
    first. *Absolute*: the agent's target is ``u_hi`` minus that amount. *Relative*: the target
    moves the same fraction of the way from ``u_hi`` to ``u_lo`` as the opponent moved from its
    first offer to the agent's best. Before any offer is received the agent bids its best.
    """

    relative: bool = True

    def target(self, view: AgentView) -> float:
        """Return the utility the agent aims at, given what it has received."""
        if not view.received:
            return view.u_hi
        first = float(view.utility[view.received[0]])
        last = float(view.utility[view.received[-1]])
        conceded = max(0.0, last - first)
        if self.relative:
            room = view.u_hi - first
            fraction = conceded / room if room > 0 else 1.0
            aim = view.u_hi - fraction * (view.u_hi - view.u_lo)
        else:
            aim = view.u_hi - conceded
        return max(view.u_lo, aim)

    def bid(self, view: AgentView, t: float) -> int:  # noqa: ARG002
        """Return the cheapest outcome worth at least the target."""
        return view.lowest_at_least(self.target(view))


class HardlinerBidding:
    """Always offer the best outcome."""

    def bid(self, view: AgentView, t: float) -> int:  # noqa: ARG002
        """Return the agent's best outcome."""
        return view.best


class HardlinerAcceptance:
    """Accept only offers worth the agent's best utility (and its reserved value)."""

    def accept(self, view: AgentView, offer: int, t: float, planned: int) -> bool:  # noqa: ARG002
        """Return ``u[offer] >= max(u_hi, reserved value)``."""
        return float(view.utility[offer]) >= max(view.u_hi, view.reserved_value)


class RandomBidding:
    """Offer an outcome drawn uniformly from those worth at least the reserved value."""

    def bid(self, view: AgentView, t: float) -> int:  # noqa: ARG002
        """Draw one rational outcome (the best one when none is rational)."""
        rational = view.rational()
        if rational.size == 0:
            return view.best
        return int(rational[view.rng.integers(rational.size)])


@dataclass(frozen=True)
class RandomAcceptance:
    """Accept a rational offer with probability ``p_accept``; never accept an irrational one."""

    p_accept: float = 0.5

    def accept(self, view: AgentView, offer: int, t: float, planned: int) -> bool:  # noqa: ARG002
        """Draw the decision from the agent's generator."""
        draw = float(view.rng.random())
        return float(view.utility[offer]) >= view.reserved_value and draw < self.p_accept


def aspiration(exponent: float, *, name: str | None = None, tolerance: float = 1e-4) -> BOAAgent:
    """Build a time-based aspiration agent with any exponent.

    Args:
        exponent: The concession exponent (``> 0``).
        name: The agent's label; ``aspiration(<exponent>)`` by default.
        tolerance: Subtracted from the threshold.

    Returns:
        The agent.

    Raises:
        ConfigurationError: If the exponent is not positive.
    """
    if not exponent > 0:
        raise ConfigurationError(f"aspiration.exponent: must be > 0 (got {exponent})")
    bidding = AspirationBidding(exponent, tolerance=tolerance)
    return BOAAgent(
        name or f"aspiration({exponent:g})", bidding=bidding, acceptance=AspirationAcceptance(bidding)
    )


def boulware() -> BOAAgent:
    """Return the Boulware agent (exponent 4: holds out, concedes late)."""
    return aspiration(4.0, name="boulware")


def linear() -> BOAAgent:
    """Return the linear time-based agent (exponent 1)."""
    return aspiration(1.0, name="linear")


def conceder() -> BOAAgent:
    """Return the Conceder agent (exponent 0.25: concedes early)."""
    return aspiration(0.25, name="conceder")


def tit_for_tat(*, relative: bool = True) -> BOAAgent:
    """Return a tit-for-tat agent that accepts an offer at least as good as its own next bid.

    Args:
        relative: Mirror the opponent's relative concession (True) or its absolute one (False).
    """
    name = "tit-for-tat" if relative else "tit-for-tat-absolute"
    return BOAAgent(name, bidding=TitForTatBidding(relative=relative), acceptance=AcceptNext())


def hardliner() -> BOAAgent:
    """Return the hardliner: offers its best outcome, accepts nothing less."""
    return BOAAgent("hardliner", bidding=HardlinerBidding(), acceptance=HardlinerAcceptance())


def random_agent(p_accept: float = 0.5) -> BOAAgent:
    """Return the random agent; it draws from the generator in its :class:`AgentView`.

    Args:
        p_accept: The probability of accepting a rational offer.

    Raises:
        ConfigurationError: If ``p_accept`` is outside ``[0, 1]``.
    """
    if not 0.0 <= p_accept <= 1.0:
        raise ConfigurationError(f"random.p_accept: must be within [0, 1] (got {p_accept})")
    return BOAAgent("random", bidding=RandomBidding(), acceptance=RandomAcceptance(p_accept))


_FACTORIES: dict[str, Callable[[], BOAAgent]] = {
    "boulware": boulware,
    "linear": linear,
    "conceder": conceder,
    "tit-for-tat": tit_for_tat,
    "tit-for-tat-absolute": lambda: tit_for_tat(relative=False),
    "hardliner": hardliner,
    "random": random_agent,
}

AGENT_NAMES: tuple[str, ...] = (*_FACTORIES, "aspiration:<exponent>")
"""Every name :func:`make_agent` understands."""


def make_agent(name: str, *, field: str = "agent") -> Agent:
    """Build a fresh agent from its name, e.g. ``"boulware"`` or ``"aspiration:2.5"``.

    Args:
        name: One of :data:`AGENT_NAMES`.
        field: The field path to name in errors (e.g. ``"agents[2]"``).

    Returns:
        A new, unstarted agent.

    Raises:
        ConfigurationError: If the name is unknown or the exponent malformed.
    """
    factory = _FACTORIES.get(name)
    if factory is not None:
        return factory()
    prefix, _, exponent = name.partition(":")
    if prefix == "aspiration" and exponent:
        try:
            value = float(exponent)
        except ValueError as e:
            raise ConfigurationError(f"{field}: {name!r} needs a number after 'aspiration:'") from e
        agent = aspiration(value) if value > 0 else None
        if agent is not None:
            return agent
        raise ConfigurationError(f"{field}: the exponent in {name!r} must be > 0")
    known = ", ".join(AGENT_NAMES)
    raise ConfigurationError(f"{field}: unknown agent {name!r} (known: {known})")
