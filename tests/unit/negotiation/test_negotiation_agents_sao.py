"""Stacked alternating offers through the mediator: the shared scenario's rules, bilateral and multilateral."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from negotiation_agents_data import profile, random_problem, scenario

from backchannel.errors import ConfigurationError
from backchannel.negotiation.agents import boulware, conceder, hardliner, make_agent
from backchannel.negotiation.boa import AcceptAbove, AgentView, BOAAgent, ConcedeTo
from backchannel.negotiation.protocols import run_sao


def spec_replay(u, r, opener, exponents=(4.0, 0.25), n_rounds=100):
    """The scenario file's SAO rules, transcribed line by line (independent of the agents module)."""
    order = [opener, 1 - opener]
    hi = u.max(axis=0)
    lo = np.maximum(u.min(axis=0), r)

    def thr(p, t):
        a = 1.0 * (1 - t ** exponents[p])
        return max(lo[p], lo[p] + a * (hi[p] - lo[p]) - 0.0001)

    def propose(p, t):
        ok = np.flatnonzero(u[:, p] >= thr(p, t))
        return int(ok[np.argmin(u[ok, p])]) if ok.size else int(np.argmax(u[:, p]))

    standing = None
    for k in range(n_rounds):
        t = (k + 1) / (n_rounds + 1)
        for p in order:
            if standing is not None and thr(p, t) <= u[standing, p] <= hi[p]:
                return standing, k + 1
            standing = propose(p, t)
    return None, n_rounds


@pytest.mark.parametrize("i", range(0, 50, 7))
@pytest.mark.parametrize("opener", [0, 1])
def test_boulware_vs_conceder_follows_the_scenario_rules(i, opener) -> None:
    u, r = profile(i)
    result = run_sao(
        [boulware(), conceder()], u, r, n_rounds=100, rng=np.random.default_rng(0), opener=opener
    )
    assert (result.agreement, result.rounds) == spec_replay(u, r, opener)
    if result.agreed:
        assert np.all(u[result.agreement] >= r)  # both agents only accept above their reserved values
        assert result.utilities == tuple(u[result.agreement])
    else:
        assert result.utilities == tuple(r)


def test_the_scenario_profiles_mostly_agree() -> None:
    agreements = 0
    for i in range(len(scenario()["profiles"])):
        u, r = profile(i)
        agreements += run_sao(
            [boulware(), conceder()], u, r, n_rounds=100, rng=np.random.default_rng(i)
        ).agreed
    assert 20 < agreements < 50  # some profiles have no zone of agreement (e.g. profile 2)


def test_the_trace_alternates_and_each_offer_is_answered_by_the_other_party() -> None:
    u, r = profile(0)
    result = run_sao([boulware(), conceder()], u, r, n_rounds=100, rng=np.random.default_rng(0), opener=1)
    trace = result.trace
    assert trace[0].actor == 1
    assert trace[0].action == "offer"
    assert trace[0].round == 0
    for before, after in itertools.pairwise(trace):
        if before.action == "offer":
            assert after.actor != before.actor
            assert after.outcome == before.outcome
            assert after.action in {"accept", "reject"}
    assert trace[-1].action == "accept"
    assert trace[-1].outcome == result.agreement
    assert result.offers_by(1)[0] == trace[0].outcome
    assert trace[-1].t == pytest.approx(result.rounds / 101)


def test_two_hardliners_time_out_unless_their_best_coincides() -> None:
    u = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    result = run_sao([hardliner(), hardliner()], u, [0.0, 0.0], n_rounds=7, rng=np.random.default_rng(0))
    assert result.agreement is None
    assert result.rounds == 7
    assert len(result.trace) == 1 + 2 * (2 * 7 - 1)
    same = np.array([[1.0, 1.0], [0.0, 0.0]])
    result = run_sao([hardliner(), hardliner()], same, [0.0, 0.0], n_rounds=7, rng=np.random.default_rng(0))
    assert (result.agreement, result.rounds) == (0, 1)


def _easy(name):
    return BOAAgent(name, bidding=ConcedeTo(0.0), acceptance=AcceptAbove(0.0))


def test_multilateral_agreement_needs_every_other_party_to_accept() -> None:
    u = np.array([[0.9, 0.2, 0.3], [0.1, 0.9, 0.8], [0.5, 0.6, 0.7]])
    picky = BOAAgent("picky", bidding=ConcedeTo(0.75), acceptance=AcceptAbove(0.75))
    result = run_sao(
        [_easy("a"), _easy("b"), picky], u, [0.0, 0.0, 0.0], n_rounds=5, rng=np.random.default_rng(1)
    )
    steps = [(s.actor, s.action, s.outcome) for s in result.trace]
    # a offers its cheapest outcome (1); b accepts; the picky party (0.8 >= 0.75) accepts too: agreed
    assert steps == [(0, "offer", 1), (1, "accept", 1), (2, "accept", 1)]
    assert result.agreement == 1
    assert result.rounds == 1
    assert result.protocol == "sao-multilateral"


def test_multilateral_rejection_restarts_the_count_with_a_relayed_counter_offer() -> None:
    u = np.array([[0.9, 0.2, 0.3], [0.1, 0.9, 0.1], [0.5, 0.6, 0.7]])
    picky = BOAAgent("picky", bidding=ConcedeTo(0.7), acceptance=AcceptAbove(0.7))
    result = run_sao(
        [_easy("a"), _easy("b"), picky], u, [0.0, 0.0, 0.0], n_rounds=5, rng=np.random.default_rng(1)
    )
    steps = [(s.round, s.actor, s.action, s.outcome) for s in result.trace]
    assert steps[:4] == [(0, 0, "offer", 1), (0, 1, "accept", 1), (0, 2, "reject", 1), (0, 2, "offer", 2)]
    assert steps[4:] == [(1, 0, "accept", 2), (1, 1, "accept", 2)]
    assert result.agreement == 2
    assert result.rounds == 2


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 4),
    st.sampled_from(["boulware", "conceder", "tit-for-tat", "random", "linear"]),
)
def test_any_agents_any_party_count_agree_only_on_what_every_party_accepted(seed, n_parties, name) -> None:
    rng = np.random.default_rng(seed)
    u, r = random_problem(rng, n_parties, (4, 5))
    agents = [make_agent(name) for _ in range(n_parties)]
    result = run_sao(agents, u, r, n_rounds=30, rng=rng, opener=seed % n_parties)
    if result.agreed:
        last = result.trace[-(n_parties - 1) :]
        assert all(s.action == "accept" and s.outcome == result.agreement for s in last)
        proposer = result.trace[-n_parties]
        assert proposer.action == "offer"
        assert proposer.outcome == result.agreement
        assert {s.actor for s in last} | {proposer.actor} == set(range(n_parties))
        assert np.all(u[result.agreement] >= r)  # every ready-made agent is individually rational
    else:
        assert result.rounds == 30


def test_same_seed_same_run_for_random_agents() -> None:
    u, r = profile(3)

    def play(seed):
        return run_sao(
            [make_agent("random"), make_agent("random")], u, r, n_rounds=50, rng=np.random.default_rng(seed)
        )

    assert play(5) == play(5)
    assert play(5).trace != play(6).trace


def test_bad_inputs_name_the_argument() -> None:
    u = np.array([[0.9, 0.2], [0.1, 0.9]])
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigurationError, match="agents: need one per party"):
        run_sao([boulware()], u, [0, 0], n_rounds=3, rng=rng)
    with pytest.raises(ConfigurationError, match="n_rounds"):
        run_sao([boulware(), conceder()], u, [0, 0], n_rounds=0, rng=rng)
    with pytest.raises(ConfigurationError, match="reserved"):
        run_sao([boulware(), conceder()], u, [0], n_rounds=3, rng=rng)
    with pytest.raises(ConfigurationError, match="utilities"):
        run_sao([boulware(), conceder()], u[:, :1], [0], n_rounds=3, rng=rng)
    with pytest.raises(ConfigurationError, match="finite"):
        run_sao([boulware(), conceder()], u * np.nan, [0, 0], n_rounds=3, rng=rng)

    class Wild:
        name = "wild"

        def start(self, view: AgentView) -> None:
            pass

        def propose(self, t: float) -> int:
            return 99

        def respond(self, offer: int, t: float) -> bool:
            return False

    with pytest.raises(ConfigurationError, match=r"agents\[0\]: offered outcome 99"):
        run_sao([Wild(), conceder()], u, [0, 0], n_rounds=3, rng=rng)


def test_the_boa_agents_agree_with_the_reference_engine_on_every_profile_and_opener() -> None:
    from negotiation_agents_data import SCENARIO_FILE

    from backchannel.negotiation.engine import play_profile
    from backchannel.negotiation.scenario import load_scenario

    loaded = load_scenario(SCENARIO_FILE)
    for i in range(len(loaded.profiles)):
        u, r = loaded.utilities(i), loaded.reserved(i)
        for opener, side in (("A", 0), ("B", 1)):
            reference = play_profile(loaded, i, opener)
            ours = run_sao(
                [boulware(), conceder()],
                u,
                r,
                n_rounds=loaded.n_rounds,
                rng=np.random.default_rng(0),
                opener=side,
            )
            assert (ours.agreement, ours.rounds) == (reference.agreement, reference.rounds), (i, opener)
            assert ours.offers_by(0) == list(reference.offers_by("A"))
