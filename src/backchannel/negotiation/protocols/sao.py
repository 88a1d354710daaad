"""Stacked alternating offers through a mediator, bilateral and multilateral.

The mediator holds the turn order and relays every offer; the parties never address each other.
The rules are those of the shared scenario ``sao-3x10-boulware-vs-conceder.json``, generalised to
``n`` parties the way NegMAS's ``SAOMechanism`` does:

1. rounds ``k = 0 .. n_rounds - 1``; in every round the parties act once each, the opener first;
2. relative time in round ``k`` is ``t_k = (k + 1) / (n_rounds + 1)``, the same for every party;
3. a party with no standing offer to answer proposes; otherwise the mediator relays the standing
   offer to it and it accepts or rejects; a rejecting party proposes a counter-offer, which the
   mediator relays onwards as the new standing offer;
4. making an offer counts as accepting it; the standing offer is agreed once every other party
   has accepted it (one acceptance for two parties, ``n - 1`` in a row for ``n``);
5. no agreement after the last round is a disagreement; each party gets its reserved value.

This module does not analyse outcomes (see ``negotiation.analysis``) and draws no randomness of
its own: the generator it takes is split, one child per agent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.boa import Agent, AgentView
from backchannel.negotiation.protocols._records import ProtocolResult, TraceStep, as_utilities

__all__ = ["run_sao"]


def _start_agents(
    agents: Sequence[Agent], u: NDArray[np.float64], r: NDArray[np.float64], rng: np.random.Generator
) -> None:
    """Give each agent its own column of ``u``, its reserved value and a child generator."""
    for p, (agent, child) in enumerate(zip(agents, rng.spawn(len(agents)), strict=True)):
        agent.start(AgentView.create(u[:, p].copy(), float(r[p]), child))


def _check_offer(offer: int, n_outcomes: int, party: int) -> int:
    if not 0 <= offer < n_outcomes:
        raise ConfigurationError(f"agents[{party}]: offered outcome {offer}, outside 0..{n_outcomes - 1}")
    return int(offer)


def run_sao(  # noqa: PLR0913 - the negotiation, then its options by keyword
    agents: Sequence[Agent],
    utilities: NDArray[np.float64],
    reserved: Sequence[float] | NDArray[np.float64],
    *,
    n_rounds: int,
    rng: np.random.Generator,
    opener: int = 0,
) -> ProtocolResult:
    """Play one negotiation under stacked alternating offers.

    Args:
        agents: One agent per party (column of ``utilities``); started here.
        utilities: ``(n_outcomes, n_parties)``; each agent sees only its own column.
        reserved: Each party's reserved value.
        n_rounds: The deadline in rounds (``>= 1``).
        rng: Split into one child generator per agent.
        opener: The party that acts first in every round.

    Returns:
        The result, with the trace of offers, acceptances and rejections.

    Raises:
        ConfigurationError: On inconsistent inputs or an offer outside the outcome space.
    """
    u, r = as_utilities(utilities, reserved)
    n_parties = u.shape[1]
    if len(agents) != n_parties:
        raise ConfigurationError(f"agents: need one per party ({n_parties}), got {len(agents)}")
    if n_rounds < 1 or not 0 <= opener < n_parties:
        raise ConfigurationError(f"n_rounds/opener: need n_rounds >= 1 and 0 <= opener < {n_parties}")
    _start_agents(agents, u, r, rng)
    order = [(opener + i) % n_parties for i in range(n_parties)]
    trace: list[TraceStep] = []
    standing: int | None = None
    acceptances = 0
    for k in range(n_rounds):
        t = (k + 1) / (n_rounds + 1)
        for p in order:
            if standing is not None:
                accepted = agents[p].respond(standing, t)
                trace.append(TraceStep(k, p, "accept" if accepted else "reject", standing, t))
                if accepted:
                    acceptances += 1
                    if acceptances == n_parties - 1:
                        return _result(standing, k + 1, trace, u, r)
                    continue
            standing = _check_offer(agents[p].propose(t), u.shape[0], p)
            acceptances = 0
            trace.append(TraceStep(k, p, "offer", standing, t))
    return _result(None, n_rounds, trace, u, r)


def _result(
    agreement: int | None,
    rounds: int,
    trace: list[TraceStep],
    u: NDArray[np.float64],
    r: NDArray[np.float64],
) -> ProtocolResult:
    values = r if agreement is None else u[agreement]
    name = "sao" if u.shape[1] == 2 else "sao-multilateral"
    return ProtocolResult(name, agreement, rounds, tuple(trace), tuple(float(v) for v in values))
