"""Moves played by the negotiation engine's agents (``agent = "..."`` on a submit move)."""

import tomllib
from importlib import resources

import pytest

from backchannel.api import create_app
from backchannel.errors import ConfigurationError
from backchannel.sim import load_scenario, run_scenario
from backchannel.sim.scenario import parse_scenario

GRID = [3.67, 4, 5, 10, 20]


def _offer(result):
    """Iran's counter-proposal as the log holds it (the values its agent chose)."""
    return [text for _, lane, kind, text in result.timeline if lane == "iran" and kind == "message"]


def _vance():
    text = (
        resources.files("backchannel.sim").joinpath("scenarios", "vance-stays-home.toml").read_text("utf-8")
    )
    return tomllib.loads(text)


def test_an_agent_chooses_the_values_on_the_grid_deterministically_per_seed():
    vance = load_scenario("vance-stays-home")
    from backchannel.sim.agents import AgentPlayers

    offers = set()
    for seed in range(6):
        players = AgentPlayers(vance, seed)
        values = players.offer("iran/delegate", "boulware")
        assert values["enrichment_cap_pct"] in GRID
        assert values["sanctions_relief"] in {"none", "tier-1", "full"}
        assert AgentPlayers(vance, seed).offer("iran/delegate", "boulware") == values  # one seed, one offer
        offers.add(tuple(sorted(values.items())))
    assert len(offers) > 1  # each seed draws Iran's private utility anew


def test_a_run_with_an_agent_move_holds_every_invariant_and_submits_the_agents_offer():
    vance = load_scenario("vance-stays-home")
    result = run_scenario(vance, 4, create_app)
    assert result.violations == []
    assert result.refused == []
    assert _offer(result), "Iran submitted nothing"


def test_an_unknown_agent_is_refused_naming_the_move():
    data = _vance()
    index = next(i for i, m in enumerate(data["moves"]) if "agent" in m)
    data["moves"][index]["agent"] = "nobody"
    with pytest.raises(ConfigurationError, match=rf"moves\[{index}\]\.agent"):
        parse_scenario(data)


def test_a_numeric_issue_without_a_grid_is_refused_naming_it():
    data = _vance()
    del data["grids"]
    with pytest.raises(ConfigurationError, match=r"grids\.enrichment_cap_pct"):
        parse_scenario(data)


def test_only_a_submit_is_played_by_an_agent():
    data = _vance()
    index = next(i for i, m in enumerate(data["moves"]) if m["do"] == "receive")
    data["moves"][index]["agent"] = "boulware"
    with pytest.raises(ConfigurationError, match="only a submit move"):
        parse_scenario(data)
