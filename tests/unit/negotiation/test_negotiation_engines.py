"""The reference and vectorised engines: the shared scenario's rules, and identical results everywhere."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from negotiation_helpers import SCENARIO_FILE, random_document

from backchannel.errors import ConfigurationError
from backchannel.negotiation import analysis, vector
from backchannel.negotiation.engine import (
    AspirationAgent,
    Mediator,
    Offer,
    play_profile,
    relative_time,
    run_sao,
)
from backchannel.negotiation.scenario import AgentSpec, load_scenario, parse_scenario


@pytest.fixture(scope="module")
def shared():
    return load_scenario(SCENARIO_FILE)


def _reference_all(scenario):
    pairs = [(p, o) for o in "AB" for p in range(len(scenario.profiles))]
    return pairs, [play_profile(scenario, p, o) for p, o in pairs]


def _vector_all(scenario):
    pairs = [(p, o) for o in "AB" for p in range(len(scenario.profiles))]
    a, b = vector.prepare_scenario(scenario)
    result = vector.play(a, b, np.array([p for p, _ in pairs]), np.array([o == "A" for _, o in pairs]))
    return [(None if g < 0 else int(g), int(r)) for g, r in zip(result.agreement, result.rounds, strict=True)]


def test_shared_scenario_identical_in_both_engines(shared):
    _pairs, records = _reference_all(shared)
    assert len(records) == 100
    assert [(r.agreement, r.rounds) for r in records] == _vector_all(shared)
    assert any(r.agreement is not None for r in records)
    assert any(r.agreement is None for r in records)


def test_shared_scenario_agreements_follow_the_rules(shared):
    pairs, records = _reference_all(shared)
    for (p, opener), record in zip(pairs, records, strict=True):
        u, reserved = shared.utilities(p), shared.reserved(p)
        if record.agreement is None:
            assert record.rounds == shared.n_rounds
            assert record.ended == "timeout"
            continue
        # the last relayed offer is the agreement, accepted by the party that did not make it
        last = record.trace[-1]
        accepter = "B" if last.sender == "A" else "A"
        # the responder accepts in the round of the offer, the opener in the next round
        assert last.outcome == record.agreement
        assert last.round == record.rounds - (1 if accepter != opener else 2)
        column = 0 if accepter == "A" else 1
        spec = shared.agents[accepter]
        prefs = shared.profiles[p].a if accepter == "A" else shared.profiles[p].b
        agent = AspirationAgent(prefs.utilities(shared.space), prefs.reserved_value, spec, shared.tolerance)
        t = relative_time(record.rounds - 1, shared.n_rounds)
        assert agent.threshold(t) <= u[record.agreement, column]
        assert np.all(u[record.agreement] >= reserved)  # thresholds never fall below reserved values
        # offers alternate, opener first, through the mediator
        assert record.trace[0].sender == opener
        assert all(x.sender != y.sender for x, y in zip(record.trace, record.trace[1:], strict=False))


def test_shared_scenario_nash_matches_the_file(shared):
    for profile in shared.profiles:
        index = analysis.nash_point(shared.utilities(profile.profile_id), shared.reserved(profile.profile_id))
        assert (None if index is None else shared.space.outcome(index)) == profile.nash_outcome


def test_schedule_and_play_scenario(shared):
    assert shared.negotiation(0) == (0, "A")
    assert shared.negotiation(49) == (49, "A")
    assert shared.negotiation(50) == (0, "B")
    assert shared.negotiation(100) == (0, "A")
    result = vector.play_scenario(shared, 250)
    direct = _vector_all(shared)
    for i in range(250):
        p, o = shared.negotiation(i)
        assert (
            None if result.agreement[i] < 0 else int(result.agreement[i]),
            int(result.rounds[i]),
        ) == direct[p + (0 if o == "A" else 50)]
    with pytest.raises(ConfigurationError, match="n:"):
        vector.play_scenario(shared, 0)


def _compare(document):
    scenario = parse_scenario(document)
    _, records = _reference_all(scenario)
    assert [(r.agreement, r.rounds) for r in records] == _vector_all(scenario)
    return records


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.booleans())
def test_engines_agree_on_random_scenarios(seed, ties):
    _compare(random_document(seed, ties=ties))


def test_random_scenarios_cover_every_ending():
    endings = set()
    for seed in range(200):
        endings |= {r.ended for r in _compare(random_document(seed, ties=seed % 2 == 0))}
    assert endings == {"agreement", "timeout", "no_offer"}


def test_mediator_relays_verbatim():
    mediator = Mediator()
    offer = Offer("A", 3, 0)
    assert mediator.relay(offer) is offer
    assert mediator.trace == [offer]


def test_agents_by_name_and_errors(shared):
    u = shared.utilities(0)
    boulware = AspirationAgent.named("boulware", u[:, 0], 0.46, 1e-4)
    conceder = AspirationAgent.named("conceder", u[:, 1], 0.72, 1e-4)
    linear = AspirationAgent.named("linear", u[:, 1], 0.72, 1e-4)
    assert boulware.threshold(0.5) > linear.threshold(0.5) or boulware.u_hi != linear.u_hi
    assert conceder.threshold(0.5) < linear.threshold(0.5)
    with pytest.raises(ConfigurationError, match="agent: unknown agent type 'stubborn'"):
        AspirationAgent.named("stubborn", u[:, 0], 0.5, 1e-4)
    with pytest.raises(ConfigurationError, match="parties"):
        run_sao([("A", boulware)], 10)
    with pytest.raises(ConfigurationError, match="profile"):
        play_profile(shared, 50, "A")
    with pytest.raises(ConfigurationError, match="opener"):
        play_profile(shared, 0, "C")  # type: ignore[arg-type]
    record = run_sao([("B", conceder), ("A", boulware)], shared.n_rounds)
    first = record.offers_by("B")[0]
    thr = conceder.threshold(relative_time(0, shared.n_rounds))
    above = u[:, 1][u[:, 1] >= thr]
    assert u[first, 1] == above.min()


def test_prepare_rejects_bad_shapes():
    with pytest.raises(ConfigurationError, match="utilities"):
        vector.prepare(np.zeros((2, 3)), np.zeros(3), np.ones(2), n_rounds=5, tolerance=0.0)


def test_threshold_is_spec(shared):
    agent = AspirationAgent(np.array([0.0, 0.5, 1.0]), 0.2, AgentSpec("x", 2.0), 0.01)
    t = relative_time(0, 9)
    assert t == 0.1
    assert agent.threshold(t) == max(0.2, 0.2 + (1 - 0.1**2) * 0.8 - 0.01)
    assert agent.propose(t) == 2
    assert agent.respond(2, t)
    assert not agent.respond(1, t)
    assert agent.propose(0.99) == 1  # lowest utility at or above thr
