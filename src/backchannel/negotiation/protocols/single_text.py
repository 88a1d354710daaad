"""Single-negotiating-text protocols: the mediator proposes, each party answers only yes or no.

Three protocols share one loop, "propose a candidate; it becomes the text iff every party says it
is strictly better for it than the current text":

- :func:`run_veto_text` follows the ``mediated_variant`` of the shared scenario file exactly
  (``negmas.st.VetoSTMechanism``): the text starts empty; every round the mediator draws one
  outcome uniformly at random; any party can veto; all ``n_rounds`` rounds are played; the final
  text is the agreement iff every party finds it at least as good as its reserved value.
- :func:`run_nash_climb` climbs: after a first text better than every reserved value, the
  mediator proposes local moves on the outcome lattice (one or two issues changed). A move is
  taken only when every party says "better", so every utility rises with every move, hence so
  does the Nash product ``prod(u_p - r_p)``. It stops at an outcome that no such move improves
  for all, or at the round budget. Unlike NegMAS's hill-climbing text it can never end on an
  outcome some party rates below its reserved value.
- :func:`run_post_settlement` (Raiffa): after a deal, the mediator proposes packages (local moves
  and random jumps); one replaces the deal only when every party says it is better; the deal is
  the fallback, so the result Pareto-dominates or equals it.

The mediator works on outcome indices and the lattice shape (issue cardinalities, last issue
fastest, as ``numpy.ravel_multi_index`` in C order); it never sees a utility. This module draws
randomness only from the generator it is given.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.protocols._records import MEDIATOR, Comparator, ProtocolResult, TraceStep

__all__ = ["lattice_neighbours", "run_nash_climb", "run_post_settlement", "run_veto_text"]


class _Text:
    """The mediator's side of a single-text run: the text, the trace and the round counter."""

    def __init__(self, parties: Sequence[Comparator], n_rounds: int, text: int | None) -> None:
        if len(parties) < 2:
            raise ConfigurationError(f"parties: need at least 2 (got {len(parties)})")
        if n_rounds < 1:
            raise ConfigurationError(f"n_rounds: must be >= 1 (got {n_rounds})")
        self.parties = parties
        self.n_rounds = n_rounds
        self.text = text
        self.round = 0
        self.trace: list[TraceStep] = []

    def exhausted(self) -> bool:
        return self.round >= self.n_rounds

    def ask(self, candidate: int) -> bool:
        """Propose ``candidate``; adopt it iff every party says it is better. Uses one round."""
        votes = tuple(bool(p.better(candidate, self.text)) for p in self.parties)
        adopted = all(votes)
        t = (self.round + 1) / (self.n_rounds + 1)
        self.trace.append(
            TraceStep(self.round, MEDIATOR, "adopt" if adopted else "keep", candidate, t, votes)
        )
        if adopted:
            self.text = candidate
        self.round += 1
        return adopted

    def result(self, protocol: str, *, check_acceptable: bool = True) -> ProtocolResult:
        """Close the run: the text is agreed iff every party finds it acceptable (when checked)."""
        text = self.text
        if check_acceptable and text is not None and not all(p.acceptable(text) for p in self.parties):
            text = None
        return ProtocolResult(protocol, text, self.round, tuple(self.trace))


def _check_index(name: str, index: int, n_outcomes: int) -> int:
    if not 0 <= index < n_outcomes:
        raise ConfigurationError(f"{name}: outcome {index} is outside 0..{n_outcomes - 1}")
    return int(index)


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(s) for s in shape)
    if not dims or any(s < 1 for s in dims):
        raise ConfigurationError(f"shape: every issue needs at least one value (got {dims})")
    return dims


def run_veto_text(
    parties: Sequence[Comparator], n_outcomes: int, *, n_rounds: int, rng: np.random.Generator
) -> ProtocolResult:
    """Play the veto single text of the shared scenario's ``mediated_variant``.

    Args:
        parties: Each party's private yes/no answers.
        n_outcomes: The size of the outcome space (draws are uniform over ``0..n_outcomes-1``).
        n_rounds: Rounds to play; always all of them.
        rng: The mediator's random source.

    Returns:
        The result; ``rounds == n_rounds``.

    Raises:
        ConfigurationError: On fewer than two parties, no outcomes or no rounds.
    """
    if n_outcomes < 1:
        raise ConfigurationError(f"n_outcomes: must be >= 1 (got {n_outcomes})")
    run = _Text(parties, n_rounds, None)
    while not run.exhausted():
        run.ask(int(rng.integers(n_outcomes)))
    return run.result("veto-text")


def lattice_neighbours(index: int, shape: Sequence[int], max_changed: int = 2) -> NDArray[np.intp]:
    """Return every outcome that differs from ``index`` in 1 to ``max_changed`` issues.

    Args:
        index: An outcome index.
        shape: The number of values of each issue (last issue fastest).
        max_changed: How many issues a move may change at once (``>= 1``).

    Returns:
        The neighbours' indices, in a fixed order (fewer changed issues first).

    Raises:
        ConfigurationError: If ``max_changed < 1``, the shape is empty or ``index`` is outside it.
    """
    dims = _check_shape(shape)
    if max_changed < 1:
        raise ConfigurationError(f"max_changed: must be >= 1 (got {max_changed})")
    _check_index("index", index, int(np.prod(dims)))
    here = np.unravel_index(index, dims)
    found: list[NDArray[np.intp]] = []
    for k in range(1, min(max_changed, len(dims)) + 1):
        for issues in itertools.combinations(range(len(dims)), k):
            choices = [[v for v in range(dims[j]) if v != here[j]] for j in issues]
            if any(not c for c in choices):
                continue
            combos = np.array(list(itertools.product(*choices)), dtype=np.intp)
            coords = [np.full(len(combos), here[j], dtype=np.intp) for j in range(len(dims))]
            for col, j in enumerate(issues):
                coords[j] = combos[:, col]
            found.append(np.ravel_multi_index(coords, dims))
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _climb(run: _Text, dims: tuple[int, ...], rng: np.random.Generator, jump_every: int) -> None:
    """Take unanimous local moves until no neighbour is better for every party or the rounds run out.

    Every ``jump_every``-th proposal (0 = never) is a uniform draw over the whole space instead.
    """
    n_outcomes = int(np.prod(dims))
    while True:
        assert run.text is not None
        for candidate in _candidates(run.text, dims, rng, jump_every, n_outcomes):
            if run.exhausted():
                return
            if run.ask(candidate):
                break
        else:
            return  # a local optimum: every neighbour was refused


def _candidates(
    text: int, dims: tuple[int, ...], rng: np.random.Generator, jump_every: int, n_outcomes: int
) -> Iterator[int]:
    """The neighbours of ``text`` in random order, with a random jump every ``jump_every`` steps."""
    for i, neighbour in enumerate(rng.permutation(lattice_neighbours(text, dims))):
        if jump_every and i % jump_every == jump_every - 1:
            yield int(rng.integers(n_outcomes))
        yield int(neighbour)


def run_nash_climb(
    parties: Sequence[Comparator],
    shape: Sequence[int],
    *,
    n_rounds: int,
    rng: np.random.Generator,
    initial: int | None = None,
) -> ProtocolResult:
    """Climb from an individually rational text toward the Nash point on yes/no answers alone.

    Args:
        parties: Each party's private yes/no answers.
        shape: The number of values of each issue (the outcome lattice).
        n_rounds: The proposal budget; each proposal to the parties is one round.
        rng: The mediator's random source (draws and move order).
        initial: A starting outcome; without one, the mediator draws uniformly until every party
            prefers a draw to its reserved value.

    Returns:
        The result; ``rounds`` is the number of proposals made. Without any text that every
        party prefers to its reserved value there is no agreement.

    Raises:
        ConfigurationError: On a bad shape, a bad ``initial`` or a non-positive budget.
    """
    dims = _check_shape(shape)
    n_outcomes = int(np.prod(dims))
    start = None if initial is None else _check_index("initial", initial, n_outcomes)
    run = _Text(parties, n_rounds, start)
    while run.text is None and not run.exhausted():
        run.ask(int(rng.integers(n_outcomes)))
    if run.text is not None:
        _climb(run, dims, rng, jump_every=0)
    return run.result("nash-climb")


def run_post_settlement(  # noqa: PLR0913 - the deal, then its options by keyword
    parties: Sequence[Comparator],
    shape: Sequence[int],
    deal: int,
    *,
    n_rounds: int,
    rng: np.random.Generator,
    jump_every: int = 4,
) -> ProtocolResult:
    """Look for packages every party prefers to a settled deal (Raiffa's post-settlement).

    Args:
        parties: Each party's private yes/no answers.
        shape: The number of values of each issue.
        deal: The settled outcome: the fallback, kept unless every party prefers a package.
        n_rounds: The proposal budget.
        rng: The mediator's random source.
        jump_every: Every ``jump_every``-th package is a uniform draw over the whole space
            (``0``: local moves only).

    Returns:
        The result; its agreement is the improved deal, or ``deal`` itself.

    Raises:
        ConfigurationError: On a bad shape or deal, or a non-positive budget.
    """
    dims = _check_shape(shape)
    _check_index("deal", deal, int(np.prod(dims)))
    if jump_every < 0:
        raise ConfigurationError(f"jump_every: must be >= 0 (got {jump_every})")
    run = _Text(parties, n_rounds, int(deal))
    _climb(run, dims, rng, jump_every)
    return run.result("post-settlement", check_acceptable=False)
