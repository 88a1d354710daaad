"""Single negotiating texts: veto (the scenario's mediated variant), Nash climbing and post-settlement."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from negotiation_agents_data import profile, random_problem, scenario, shape

from backchannel.errors import ConfigurationError
from backchannel.negotiation.analysis import distance, nash_point, pareto_mask
from backchannel.negotiation.protocols import (
    MEDIATOR,
    TruthfulComparator,
    comparators_for,
    lattice_neighbours,
    run_nash_climb,
    run_post_settlement,
    run_veto_text,
)

seeds = st.integers(0, 2**32 - 1)
lattices = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple).filter(lambda d: np.prod(d) >= 2)
party_counts = st.integers(2, 4)


class Recording:
    """A truthful party that remembers every question it was asked (the mediator's only channel)."""

    def __init__(self, utility, reserved):
        self.inner = TruthfulComparator(utility, reserved)
        self.questions = []

    def better(self, candidate, current):
        self.questions.append((candidate, current))
        return self.inner.better(candidate, current)

    def acceptable(self, outcome):
        return self.inner.acceptable(outcome)


def _check_text_trace(result, u, r):
    """Every adoption was unanimous, every refusal had a veto, and the text moved only on adoptions."""
    text = None
    for step in result.trace:
        assert step.actor == MEDIATOR
        current = r if text is None else u[text]
        expected = tuple(bool(x) for x in u[step.outcome] > current)
        assert step.votes == expected  # the answers are each party's truthful "strictly better?"
        if step.action == "adopt":
            assert all(step.votes)
            text = step.outcome
        else:
            assert step.action == "keep"
            assert not all(step.votes)
    return text


# --------------------------------------------------------------------------------------------------
# veto single text: the scenario's mediated_variant
# --------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seeds, party_counts, lattices)
def test_veto_text_never_adopts_a_vetoed_draw(seed, n_parties, dims) -> None:
    rng = np.random.default_rng(seed)
    u, r = random_problem(rng, n_parties, dims)
    result = run_veto_text(comparators_for(u, r), u.shape[0], n_rounds=40, rng=rng)
    text = _check_text_trace(result, u, r)
    assert result.rounds == 40
    assert len(result.trace) == 40
    assert result.agreement == text
    if text is not None:
        assert np.all(u[text] > r)


def test_veto_text_follows_the_mediated_variant_rules() -> None:
    variant = scenario()["mediated_variant"]
    assert variant["type"] == "veto_single_text"
    u, r = profile(0)
    parties = [Recording(u[:, p], r[p]) for p in range(2)]
    result = run_veto_text(
        parties, u.shape[0], n_rounds=variant["n_rounds"], rng=np.random.default_rng(variant["base_seed"])
    )
    assert result.rounds == variant["n_rounds"]
    for party in parties:  # each party was asked once per round, about the draw against the current text
        assert [c for c, _ in party.questions] == [s.outcome for s in result.trace]
    assert parties[0].questions[0][1] is None  # no text yet: compared with the reserved value
    _check_text_trace(result, u, r)


def test_veto_text_draws_uniformly_and_is_reproducible() -> None:
    u, r = profile(1)
    runs = [
        run_veto_text(comparators_for(u, r), 1000, n_rounds=100, rng=np.random.default_rng(s))
        for s in (3, 3, 4)
    ]
    assert runs[0] == runs[1]
    assert runs[0].trace != runs[2].trace
    draws = np.array(
        [
            s.outcome
            for s in run_veto_text(
                comparators_for(u, r), 10, n_rounds=5000, rng=np.random.default_rng(0)
            ).trace
        ]
    )
    counts = np.bincount(draws, minlength=10)
    assert counts.min() > 400
    assert counts.max() < 600


def test_veto_text_on_profiles_without_zone_of_agreement_never_agrees() -> None:
    u, r = profile(2)  # the file derives no Nash point for profile 2: no outcome suits both
    assert nash_point(u, r) is None
    result = run_veto_text(comparators_for(u, r), 1000, n_rounds=500, rng=np.random.default_rng(0))
    assert result.agreement is None
    assert not any(s.action == "adopt" for s in result.trace)


# --------------------------------------------------------------------------------------------------
# Nash climbing
# --------------------------------------------------------------------------------------------------


def test_lattice_neighbours_change_one_or_two_issues() -> None:
    dims = (3, 4, 2)
    here = int(np.ravel_multi_index((1, 2, 0), dims))
    neighbours = lattice_neighbours(here, dims)
    assert len(neighbours) == len(set(neighbours.tolist())) == (2 + 3 + 1) + (2 * 3 + 2 * 1 + 3 * 1)
    for n in neighbours:
        changed = sum(a != b for a, b in zip(np.unravel_index(n, dims), (1, 2, 0), strict=True))
        assert changed in {1, 2}
    assert len(lattice_neighbours(here, dims, max_changed=1)) == 6
    assert lattice_neighbours(0, (1, 1)).size == 0
    with pytest.raises(ConfigurationError, match="max_changed"):
        lattice_neighbours(0, dims, max_changed=0)
    with pytest.raises(ConfigurationError, match="index"):
        lattice_neighbours(24, dims)
    with pytest.raises(ConfigurationError, match="shape"):
        lattice_neighbours(0, (3, 0))


@settings(max_examples=60, deadline=None)
@given(seeds, party_counts, lattices, st.booleans())
def test_nash_climb_is_individually_rational_and_raises_every_utility(
    seed, n_parties, dims, from_random_start
) -> None:
    rng = np.random.default_rng(seed)
    u, r = random_problem(rng, n_parties, dims)
    # NegMAS's hill-climbing text starts from a random outcome and can end below a reserved value
    initial = int(rng.integers(u.shape[0])) if from_random_start else None
    result = run_nash_climb(comparators_for(u, r), dims, n_rounds=300, rng=rng, initial=initial)
    adopted = [s.outcome for s in result.trace if s.action == "adopt"]
    path = ([initial] if initial is not None else []) + adopted
    for before, after in itertools.pairwise(path):
        assert np.all(u[after] > u[before])  # Pareto-improving: so the Nash product rises too
    if result.agreement is not None:
        assert np.all(u[result.agreement] >= r)  # never an irrational agreement
        assert result.agreement == path[-1]
    elif path:
        assert np.any(u[path[-1]] < r)  # a start below someone's reserved value is not an agreement
    if result.rounds < 300 and result.agreement is not None:
        # it stopped because no one- or two-issue move is better for every party
        for n in lattice_neighbours(result.agreement, dims):
            assert not np.all(u[n] > u[result.agreement])


@pytest.mark.parametrize("i", [0, 1, 3, 4, 6, 9, 13])
def test_nash_climb_reaches_a_pareto_efficient_rational_agreement_on_the_scenario(i) -> None:
    u, r = profile(i)
    parties = [Recording(u[:, p], r[p]) for p in range(2)]
    result = run_nash_climb(parties, shape(), n_rounds=2000, rng=np.random.default_rng(i))
    assert result.agreement is not None
    assert result.rounds < 2000
    assert np.all(u[result.agreement] >= r)
    assert pareto_mask(u)[result.agreement]
    first = next(s.outcome for s in result.trace if s.action == "adopt")
    assert np.all(u[result.agreement] >= u[first])
    nash = nash_point(u, r)
    gain = np.prod(u[result.agreement] - r) - np.prod(u[first] - r)
    assert gain >= 0
    assert distance(u, result.agreement, nash) <= distance(u, first, nash) + 0.25
    assert all(len(p.questions) == result.rounds for p in parties)


def test_nash_climb_without_zone_of_agreement_finds_nothing() -> None:
    u, r = profile(2)
    result = run_nash_climb(comparators_for(u, r), shape(), n_rounds=300, rng=np.random.default_rng(0))
    assert result.agreement is None
    assert result.rounds == 300


def test_nash_climb_checks_its_inputs() -> None:
    u, r = profile(0)
    parties = comparators_for(u, r)
    with pytest.raises(ConfigurationError, match="initial"):
        run_nash_climb(parties, shape(), n_rounds=10, rng=np.random.default_rng(0), initial=1000)
    with pytest.raises(ConfigurationError, match="n_rounds"):
        run_nash_climb(parties, shape(), n_rounds=0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigurationError, match="parties"):
        run_nash_climb(parties[:1], shape(), n_rounds=5, rng=np.random.default_rng(0))
    with pytest.raises(ConfigurationError, match="n_outcomes"):
        run_veto_text(parties, 0, n_rounds=5, rng=np.random.default_rng(0))


# --------------------------------------------------------------------------------------------------
# post-settlement improvement
# --------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seeds, party_counts, lattices, st.integers(0, 3))
def test_post_settlement_never_makes_anyone_worse_off(seed, n_parties, dims, jump_every) -> None:
    rng = np.random.default_rng(seed)
    u, r = random_problem(rng, n_parties, dims)
    deal = int(rng.integers(u.shape[0]))
    result = run_post_settlement(
        comparators_for(u, r), dims, deal, n_rounds=100, rng=rng, jump_every=jump_every
    )
    assert result.agreement is not None
    assert np.all(u[result.agreement] >= u[deal])  # Pareto-dominates or equals the deal
    assert result.agreement == _check_text_from(result, u, deal)


def _check_text_from(result, u, deal):
    text = deal
    for step in result.trace:
        assert step.votes == tuple(bool(x) for x in u[step.outcome] > u[text])
        if step.action == "adopt":
            text = step.outcome
    return text


def test_post_settlement_improves_a_dominated_deal_on_the_scenario() -> None:
    u, r = profile(0)
    vetoed = run_veto_text(comparators_for(u, r), 1000, n_rounds=100, rng=np.random.default_rng(12345))
    deal = vetoed.agreement
    assert deal is not None
    assert not pareto_mask(u)[deal]
    result = run_post_settlement(
        comparators_for(u, r), shape(), deal, n_rounds=1000, rng=np.random.default_rng(1)
    )
    assert np.all(u[result.agreement] > u[deal])  # strictly better for both
    assert pareto_mask(u)[result.agreement]
    assert result.protocol == "post-settlement"


def test_post_settlement_keeps_an_efficient_deal() -> None:
    u, r = profile(0)
    efficient = int(np.flatnonzero(pareto_mask(u))[0])
    result = run_post_settlement(
        comparators_for(u, r), shape(), efficient, n_rounds=400, rng=np.random.default_rng(2)
    )
    assert result.agreement == efficient
    assert all(s.action == "keep" for s in result.trace)
    with pytest.raises(ConfigurationError, match="deal"):
        run_post_settlement(comparators_for(u, r), shape(), -1, n_rounds=10, rng=np.random.default_rng(0))
    with pytest.raises(ConfigurationError, match="jump_every"):
        run_post_settlement(
            comparators_for(u, r), shape(), 0, n_rounds=10, rng=np.random.default_rng(0), jump_every=-1
        )


def test_nash_climb_stops_at_its_round_budget() -> None:
    u, r = profile(0)
    start = int(np.argmin(u.sum(axis=1)))
    result = run_nash_climb(
        comparators_for(u, r), shape(), n_rounds=3, rng=np.random.default_rng(0), initial=start
    )
    assert result.rounds == 3
    assert len(result.trace) == 3
