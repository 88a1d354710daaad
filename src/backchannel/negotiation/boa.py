"""The BOA pattern: agents composed of a bidding strategy, an acceptance strategy and an opponent model.

An agent sees only its own utility array (``u[i]`` for every outcome index ``i``), its reserved
value, the relative time ``t`` in ``[0, 1]`` and the offers it receives. It never sees another
party's preferences. :class:`BOAAgent` glues three small parts together, so a new agent is a few
lines::

    >>> import numpy as np
    >>> from backchannel.negotiation.boa import AcceptNext, AgentView, BOAAgent
    >>> class Halfway:  # a bidding strategy: aim at the midpoint between best and reserved
    ...     def bid(self, view: AgentView, t: float) -> int:
    ...         return view.lowest_at_least((view.u_hi + view.u_lo) / 2)
    >>> agent = BOAAgent("halfway", bidding=Halfway(), acceptance=AcceptNext())
    >>> agent.start(AgentView.create(np.array([0.1, 0.5, 0.9, 0.7]), 0.2))
    >>> agent.propose(0.5), agent.respond(3, 0.6), agent.respond(0, 0.7)
    (3, True, False)

This module holds the parts and the glue; the ready-made agents (aspiration, tit-for-tat,
hardliner, random) are in :mod:`backchannel.negotiation.agents`. It does not run a negotiation:
the protocols in :mod:`backchannel.negotiation.protocols` do.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError

__all__ = [
    "AcceptAbove",
    "AcceptNext",
    "AcceptanceStrategy",
    "Agent",
    "AgentView",
    "BOAAgent",
    "BiddingStrategy",
    "ConcedeTo",
    "FrequencyModel",
    "OpponentModel",
]


@dataclass
class AgentView:
    """What one agent knows: its own utilities, its reserved value, and what it has seen.

    Attributes:
        utility: ``u[i]``, the agent's utility for outcome ``i`` (1-D float64).
        reserved_value: What the agent gets without an agreement.
        rng: The agent's own random source (a seeded :class:`numpy.random.Generator`).
        received: Offers received so far, oldest first.
        sent: Offers made so far, oldest first.
        memo: Scratch space strategies may use to cache per-negotiation values (e.g. a threshold).
        u_hi: The agent's best utility over the outcome space.
        u_lo: The lowest utility worth having: ``max(min utility, reserved value)``.
    """

    utility: NDArray[np.float64]
    reserved_value: float
    rng: np.random.Generator
    received: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    memo: dict[object, float] = field(default_factory=dict, repr=False)
    u_hi: float = field(init=False)
    u_lo: float = field(init=False)
    _order: list[int] = field(init=False, repr=False)
    _sorted: list[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Sort the utilities once (stable, so equal utilities keep index order)."""
        order = np.argsort(self.utility, kind="stable")
        self._order = order.tolist()
        self._sorted = self.utility[order].tolist()
        self.u_hi = self._sorted[-1]
        self.u_lo = max(self._sorted[0], self.reserved_value)

    @classmethod
    def create(
        cls, utility: NDArray[np.float64], reserved_value: float, rng: np.random.Generator | None = None
    ) -> AgentView:
        """Validate the inputs and build a view.

        Args:
            utility: The agent's utility per outcome index.
            reserved_value: The agent's reserved value.
            rng: The agent's random source; a generator seeded with 0 when omitted.

        Returns:
            A fresh view with no history.

        Raises:
            ConfigurationError: If ``utility`` is not a non-empty 1-D array of finite numbers.
        """
        u = np.asarray(utility, dtype=np.float64)
        if u.ndim != 1 or u.size == 0:
            raise ConfigurationError(f"utility: must be a non-empty 1-D array (got shape {u.shape})")
        if not np.all(np.isfinite(u)) or not np.isfinite(reserved_value):
            raise ConfigurationError("utility: every utility and the reserved value must be finite")
        return cls(u, float(reserved_value), rng if rng is not None else np.random.default_rng(0))

    @property
    def best(self) -> int:
        """The index of the agent's best outcome (the highest index among equals)."""
        return self._order[-1]

    def lowest_at_least(self, threshold: float) -> int:
        """Return the outcome with the lowest utility that is still ``>= threshold``.

        Args:
            threshold: The utility the outcome must reach.

        Returns:
            That outcome's index; the best outcome when none reaches ``threshold``.
        """
        k = bisect.bisect_left(self._sorted, threshold)
        return self._order[k] if k < len(self._sorted) else self.best

    def rational(self) -> NDArray[np.intp]:
        """Return the indices of outcomes worth at least the reserved value, ascending."""
        return np.flatnonzero(self.utility >= self.reserved_value)


@runtime_checkable
class Agent(Protocol):
    """What every protocol plays: start, then propose and respond at relative times ``t``."""

    name: str

    def start(self, view: AgentView) -> None:
        """Begin a negotiation with this private view (resets any history)."""

    def propose(self, t: float) -> int:
        """Return the outcome index offered at relative time ``t``."""

    def respond(self, offer: int, t: float) -> bool:
        """Receive ``offer`` at relative time ``t``; return whether the agent accepts it."""


class BiddingStrategy(Protocol):
    """Chooses the next offer."""

    def bid(self, view: AgentView, t: float) -> int:
        """Return the outcome index to offer at relative time ``t``."""


class AcceptanceStrategy(Protocol):
    """Decides on a received offer, knowing the bid the agent would make instead."""

    def accept(self, view: AgentView, offer: int, t: float, planned: int) -> bool:
        """Return whether to accept ``offer`` (the agent would otherwise offer ``planned``)."""


class OpponentModel(Protocol):
    """Learns from received offers; bidding strategies may read it."""

    def update(self, view: AgentView, offer: int, t: float) -> None:
        """Take one received offer into account."""


class AcceptNext:
    """AC_next: accept an offer at least as good as the bid the agent would make, and rational."""

    def accept(self, view: AgentView, offer: int, t: float, planned: int) -> bool:  # noqa: ARG002
        """Return ``u[offer] >= max(u[planned], reserved value)``."""
        value = float(view.utility[offer])
        return value >= float(view.utility[planned]) and value >= view.reserved_value


@dataclass(frozen=True)
class AcceptAbove:
    """Accept any offer worth at least ``threshold`` (and at least the reserved value)."""

    threshold: float

    def accept(self, view: AgentView, offer: int, t: float, planned: int) -> bool:  # noqa: ARG002
        """Return ``u[offer] >= max(threshold, reserved value)``."""
        return float(view.utility[offer]) >= max(self.threshold, view.reserved_value)


@dataclass(frozen=True)
class ConcedeTo:
    """Bid the cheapest outcome worth at least a fixed utility (a building block for tests and demos)."""

    target: float

    def bid(self, view: AgentView, t: float) -> int:  # noqa: ARG002
        """Return the lowest-utility outcome with ``u >= target``."""
        return view.lowest_at_least(self.target)


@dataclass
class FrequencyModel:
    """Counts how often each outcome was offered to the agent (a simple opponent model)."""

    counts: dict[int, int] = field(default_factory=dict)

    def update(self, view: AgentView, offer: int, t: float) -> None:  # noqa: ARG002
        """Count one more sighting of ``offer``."""
        self.counts[offer] = self.counts.get(offer, 0) + 1

    def most_offered(self) -> int | None:
        """Return the outcome offered most often (the earliest seen among equals), or None."""
        if not self.counts:
            return None
        return max(self.counts, key=lambda o: self.counts[o])


class BOAAgent:
    """An agent built from a bidding strategy, an acceptance strategy and an optional opponent model.

    When the agent rejects an offer it counters with the bid it planned while deciding, so a
    strategy is asked for one bid per turn (randomised strategies stay reproducible).
    """

    def __init__(
        self,
        name: str,
        *,
        bidding: BiddingStrategy,
        acceptance: AcceptanceStrategy,
        model: OpponentModel | None = None,
    ) -> None:
        """Compose the agent.

        Args:
            name: A label for traces and tournament tables.
            bidding: Chooses offers.
            acceptance: Decides on received offers.
            model: Learns from received offers, when given.
        """
        self.name = name
        self.bidding = bidding
        self.acceptance = acceptance
        self.model = model
        self._view: AgentView | None = None
        self._planned: tuple[float, int] | None = None

    @property
    def view(self) -> AgentView:
        """The private view of the running negotiation.

        Raises:
            ConfigurationError: If the agent was not started.
        """
        if self._view is None:
            raise ConfigurationError(f"agent {self.name!r}: start() must be called before it negotiates")
        return self._view

    def start(self, view: AgentView) -> None:
        """Begin a negotiation with ``view``; forget any earlier one."""
        self._view = view
        self._planned = None

    def propose(self, t: float) -> int:
        """Return the next offer (the one planned while rejecting at this ``t``, if any)."""
        view = self.view
        if self._planned is not None and self._planned[0] == t:
            offer = self._planned[1]
        else:
            offer = self.bidding.bid(view, t)
        self._planned = None
        view.sent.append(offer)
        return offer

    def respond(self, offer: int, t: float) -> bool:
        """Record ``offer``, update the model, and accept or reject it."""
        view = self.view
        view.received.append(offer)
        if self.model is not None:
            self.model.update(view, offer, t)
        planned = self.bidding.bid(view, t)
        self._planned = (t, planned)
        return self.acceptance.accept(view, offer, t, planned)
