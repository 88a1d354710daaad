"""Moves played by the negotiation engine's agents (issue #11 item 5: "scripted or played by agents").

A ``submit`` move with ``agent = "boulware"`` (any name :func:`~backchannel.negotiation.agents.make_agent`
knows) lets that agent choose the offer's values: the party's agent is started once per run on a
private linear additive utility over the agenda's outcomes (the scenario's ``[grids]`` give the
values of numeric issues), drawn from its own generator seeded by the run's seed and the party's
name (so it never shifts the fault, salt or client streams), and proposes at relative time
``k / n`` for its ``k``-th of ``n`` agent moves. Offers relayed to a party with an agent are shown
to it (``respond``), so strategies that answer the other side (tit-for-tat) see them.

This module does not send anything: :mod:`backchannel.sim.script` submits the values it returns.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from backchannel.errors import ConfigurationError
from backchannel.log.canonical import JSONValue
from backchannel.negotiation.agents import make_agent
from backchannel.negotiation.boa import Agent, AgentView
from backchannel.negotiation.bridge import AgendaCodec
from backchannel.sim.scenario import Scenario

__all__ = ["AgentPlayers"]


class AgentPlayers:
    """The agents of one run, one per party that has agent moves."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        """Count each party's agent moves; agents start on first use."""
        self._scenario = scenario
        self._seed = seed
        self._agents: dict[str, tuple[Agent, list[int]]] = {}
        self._moves: dict[str, int] = {}
        for move in scenario.moves:
            if "agent" in move:
                party = str(move["by"]).split("/", maxsplit=1)[0]
                self._moves[party] = self._moves.get(party, 0) + 1
        self._codec = (
            AgendaCodec.from_agenda(scenario.agenda, scenario.grids)
            if self._moves and scenario.agenda is not None
            else None
        )

    def _agent(self, party: str, name: str) -> tuple[Agent, list[int]]:
        if party not in self._agents:
            assert self._codec is not None  # check_agents refused a scenario without an agenda
            rng = np.random.default_rng([self._seed, zlib.crc32(party.encode())])
            shape = self._codec.shape
            weights = rng.dirichlet(np.ones(len(shape)))
            scores = [rng.random(size) for size in shape]
            grid = np.zeros(shape)
            for axis, (weight, score) in enumerate(zip(weights, scores, strict=True)):
                grid = grid + weight * score.reshape([-1 if a == axis else 1 for a in range(len(shape))])
            agent = make_agent(name)
            agent.start(AgentView.create(grid.reshape(-1).astype(np.float64), 0.2, rng))
            self._agents[party] = (agent, [0])
        return self._agents[party]

    def offer(self, member: str, name: str) -> dict[str, JSONValue]:
        """The values the party's agent offers now (its next offer)."""
        party = member.split("/", maxsplit=1)[0]
        agent, made = self._agent(party, name)
        made[0] += 1
        assert self._codec is not None
        return self._codec.values(agent.propose(made[0] / (self._moves[party] + 1)))

    def shown(self, party: str, deliveries: list[Mapping[str, Any]]) -> None:
        """Show a party's agent the offers relayed to it (values on the agenda's grid only)."""
        if party not in self._agents or self._codec is None:
            return
        agent, made = self._agents[party]
        for delivery in deliveries:
            values = _values(delivery)
            if values is None:
                continue
            try:
                index = self._codec.index(values)
            except ConfigurationError:
                continue  # an offer off the grid (a reframing): the agent cannot weigh it
            agent.respond(index, (made[0] + 0.5) / (self._moves[party] + 1))


def _values(value: object) -> Mapping[str, JSONValue] | None:
    """The first ``values`` object in a delivery (the relayed message's agenda values), if any."""
    if isinstance(value, Mapping):
        found = value.get("values")
        if isinstance(found, Mapping) and found:
            return found
        for item in value.values():
            inner = _values(item)
            if inner is not None:
                return inner
    return None
