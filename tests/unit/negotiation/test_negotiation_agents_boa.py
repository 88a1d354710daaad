"""The BOA parts and the ready-made agents: each one's offer and acceptance rules."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backchannel.errors import ConfigurationError
from backchannel.negotiation import agents, boa
from backchannel.negotiation.agents import (
    AGENT_NAMES,
    AspirationBidding,
    TitForTatBidding,
    aspiration,
    boulware,
    conceder,
    hardliner,
    linear,
    make_agent,
    random_agent,
    tit_for_tat,
)
from backchannel.negotiation.boa import (
    AcceptAbove,
    AcceptNext,
    AgentView,
    BOAAgent,
    ConcedeTo,
    FrequencyModel,
)

U = np.array([0.1, 0.5, 0.9, 0.7, 0.3])
utilities = arrays(np.float64, st.integers(2, 40), elements=st.floats(0, 1, allow_nan=False), unique=True)


def test_the_module_docstring_example_runs() -> None:
    # the "new agent in a few lines" example is executed, not just shown
    result = doctest.testmod(boa, raise_on_error=True)
    assert result.attempted >= 4


def test_view_knows_best_worst_and_the_cheapest_outcome_above_a_threshold() -> None:
    view = AgentView.create(U, 0.2)
    assert (view.u_hi, view.u_lo, view.best) == (0.9, 0.2, 2)
    assert view.lowest_at_least(0.6) == 3
    assert view.lowest_at_least(0.5) == 1
    assert view.lowest_at_least(0.95) == 2  # nothing reaches it: the best
    assert view.rational().tolist() == [1, 2, 3, 4]
    assert AgentView.create(U, -1.0).u_lo == 0.1


@pytest.mark.parametrize(
    ("utility", "reserved"), [(np.zeros((2, 2)), 0.0), (np.array([]), 0.0), (U, float("nan"))]
)
def test_view_refuses_malformed_utilities(utility, reserved) -> None:
    with pytest.raises(ConfigurationError, match="utility"):
        AgentView.create(utility, reserved)


@given(utilities, st.floats(0, 1), st.floats(0, 1))
def test_aspiration_offers_the_cheapest_outcome_above_its_threshold(u, reserved, t) -> None:
    view = AgentView.create(u, reserved)
    bidding = AspirationBidding(2.0)
    thr = bidding.threshold(view, t)
    offer = bidding.bid(view, t)
    above = u[u >= thr]
    if above.size:
        assert u[offer] == above.min()  # brute force: the lowest utility still above the threshold
    else:
        assert offer == int(np.argmax(u))
    assert thr >= view.u_lo


def test_aspiration_thresholds_follow_the_scenario_formula() -> None:
    view = AgentView.create(U, 0.2)
    for exponent in (4.0, 1.0, 0.25):
        b = AspirationBidding(exponent)
        for t in (0.0, 0.3, 0.8, 1.0):
            a = 1.0 - t**exponent
            assert b.threshold(view, t) == pytest.approx(max(0.2, 0.2 + a * 0.7 - 1e-4))
    # Boulware holds out longer than linear, which holds out longer than the conceder
    t = 0.5
    thresholds = [AspirationBidding(e).threshold(view, t) for e in (4.0, 1.0, 0.25)]
    assert thresholds[0] > thresholds[1] > thresholds[2]


def test_aspiration_accepts_between_threshold_and_best() -> None:
    agent = boulware()
    agent.start(AgentView.create(U, 0.2))
    assert agent.respond(2, 0.1)  # the best outcome: accepted at any time
    assert not agent.respond(3, 0.1)  # 0.7 < thr(0.1) ~ 0.9
    assert agent.respond(3, 0.95)  # late, the threshold has dropped below 0.7
    assert not agent.respond(0, 0.999)  # below the reserved value, never


def test_named_aspiration_agents_have_their_exponents() -> None:
    assert [a.name for a in (boulware(), linear(), conceder())] == ["boulware", "linear", "conceder"]
    assert [a.bidding.exponent for a in (boulware(), linear(), conceder())] == [4.0, 1.0, 0.25]
    assert aspiration(2.5).name == "aspiration(2.5)"
    with pytest.raises(ConfigurationError, match=r"aspiration\.exponent"):
        aspiration(0)


def test_propose_reuses_the_bid_planned_while_rejecting() -> None:
    calls = []

    class Counting:
        def bid(self, view, t):
            calls.append(t)
            return 1

    agent = BOAAgent("c", bidding=Counting(), acceptance=AcceptAbove(0.95))
    agent.start(AgentView.create(U, 0.0))
    assert not agent.respond(0, 0.5)
    assert agent.propose(0.5) == 1
    assert calls == [0.5]  # one bid per turn
    assert agent.propose(0.6) == 1
    assert calls == [0.5, 0.6]
    assert agent.view.received == [0]
    assert agent.view.sent == [1, 1]


def test_an_agent_must_be_started() -> None:
    with pytest.raises(ConfigurationError, match="start"):
        hardliner().propose(0.1)


def test_hardliner_offers_and_accepts_only_its_best() -> None:
    agent = hardliner()
    agent.start(AgentView.create(U, 0.0))
    assert {agent.propose(t) for t in np.linspace(0, 1, 11)} == {2}
    assert agent.respond(2, 0.99)
    assert not agent.respond(3, 0.99)


def test_tit_for_tat_mirrors_the_opponents_concession() -> None:
    view = AgentView.create(U, 0.2)
    relative, absolute = TitForTatBidding(relative=True), TitForTatBidding(relative=False)
    assert relative.target(view) == 0.9
    assert relative.bid(view, 0.1) == 2
    view.received.extend([0, 1])  # the opponent moved from 0.1 to 0.5 (in my utility): half-way to 0.9
    assert absolute.target(view) == pytest.approx(0.9 - 0.4)
    assert relative.target(view) == pytest.approx(0.9 - 0.5 * 0.7)
    view.received.append(4)  # it went back to 0.3: a concession of 0.2 since its first offer
    assert absolute.target(view) == pytest.approx(0.7)
    view.received[:] = [2, 0]  # first offer was my best already: no room, full concession
    assert relative.target(view) == pytest.approx(0.2)


def test_tit_for_tat_agents_accept_what_beats_their_own_next_bid() -> None:
    agent = tit_for_tat()
    agent.start(AgentView.create(U, 0.2))
    assert not agent.respond(0, 0.1)
    assert agent.propose(0.1) == 2
    assert agent.respond(2, 0.2)
    assert tit_for_tat(relative=False).name == "tit-for-tat-absolute"


def test_random_agent_is_reproducible_rational_and_draws_from_its_generator() -> None:
    def play(seed):
        agent = random_agent()
        agent.start(AgentView.create(U, 0.4, np.random.default_rng(seed)))
        offers = [agent.propose(0.1) for _ in range(50)]
        answers = [agent.respond(o, 0.2) for o in range(5) for _ in range(20)]
        return offers, answers

    offers, answers = play(7)
    assert play(7) == (offers, answers)
    assert play(8) != (offers, answers)
    assert set(offers) <= {1, 2, 3}  # only outcomes worth at least 0.4
    assert set(offers) == {1, 2, 3}
    by_outcome = [answers[i * 20 : (i + 1) * 20] for i in range(5)]
    assert not any(by_outcome[0])
    assert not any(by_outcome[4])
    assert any(by_outcome[2])
    assert not all(by_outcome[2])
    with pytest.raises(ConfigurationError, match="p_accept"):
        random_agent(1.5)


def test_random_agent_without_rational_outcomes_offers_its_best() -> None:
    agent = random_agent()
    agent.start(AgentView.create(U, 2.0))
    assert agent.propose(0.5) == 2


def test_composed_parts_and_the_frequency_model() -> None:
    model = FrequencyModel()
    assert model.most_offered() is None
    agent = BOAAgent("x", bidding=ConcedeTo(0.6), acceptance=AcceptNext(), model=model)
    agent.start(AgentView.create(U, 0.2))
    assert [agent.respond(o, 0.5) for o in (4, 1, 1, 3, 2)] == [False, False, False, True, True]
    assert model.counts == {4: 1, 1: 2, 3: 1, 2: 1}
    assert model.most_offered() == 1
    assert isinstance(agent, boa.Agent)


@pytest.mark.parametrize("name", [n for n in AGENT_NAMES if ":" not in n])
def test_make_agent_builds_every_named_agent_fresh(name) -> None:
    a, b = make_agent(name), make_agent(name)
    assert a is not b
    assert a.name == name


def test_make_agent_parses_exponents_and_names_the_field_on_errors() -> None:
    agent = make_agent("aspiration:2.5")
    assert isinstance(agent, BOAAgent)
    assert agent.bidding.exponent == 2.5
    with pytest.raises(ConfigurationError, match=r"agents\[1\]: unknown agent 'bolware'"):
        make_agent("bolware", field="agents[1]")
    with pytest.raises(ConfigurationError, match="needs a number"):
        make_agent("aspiration:fast")
    with pytest.raises(ConfigurationError, match="must be > 0"):
        make_agent("aspiration:-1")


def test_every_public_name_is_exported() -> None:
    for module in (agents, boa):
        for name in module.__all__:
            assert getattr(module, name).__doc__


@settings(max_examples=30)
@given(utilities, st.floats(0, 1))
def test_no_ready_made_deterministic_agent_accepts_below_its_reserved_value(u, reserved) -> None:
    for name in ("boulware", "linear", "conceder", "tit-for-tat", "tit-for-tat-absolute", "hardliner"):
        agent = make_agent(name)
        agent.start(AgentView.create(u, reserved))
        for o in range(u.size):
            if agent.respond(o, 0.999):
                assert u[o] >= reserved
