"""Cartesian tournaments: agents x opponents x scenarios x openers x repetitions, written as Parquet.

A :class:`Tournament` lists the runs; :func:`run_tournament` plays those not yet in the output
directory and appends their rows as Parquet part files (written to a temporary name, then renamed,
so a crash never leaves a half file). Rerunning the same tournament into the same directory skips
every completed run: tournaments are resumable.

- Every run's seed derives from the tournament seed and the run's identity (agent, opponent,
  scenario, opener, repetition) through :class:`numpy.random.SeedSequence`, so a run plays the
  same whatever the worker count, order or resumption.
- Runs are played in chunks on local processes (``ProcessPoolExecutor``, spawned, at most
  ``workers`` of them; ``workers=1`` plays in this process) or, when ``ray_address`` is given, as
  Ray tasks on that cluster (Ray is the optional extra ``backchannel[ray]``).
- The agent plays party A, the opponent party B, under stacked alternating offers
  (:func:`~backchannel.negotiation.protocols.run_sao`).

This module draws no pictures (:mod:`~backchannel.negotiation.plots` does) and shows no progress
bar itself: callers pass ``on_progress`` (the CLI renders a Rich bar with it).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.agents import make_agent
from backchannel.negotiation.analysis import distance, nash_point, pareto_mask
from backchannel.negotiation.protocols import run_sao
from backchannel.negotiation.scenario import load_scenario
from backchannel.parallel import ray_map

__all__ = [
    "RESULT_SCHEMA",
    "Problem",
    "RunSpec",
    "Tournament",
    "TournamentReport",
    "completed_run_ids",
    "problems_from_file",
    "read_results",
    "run_tournament",
    "summarize",
]

RESULT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("agent", pa.string()),
        ("opponent", pa.string()),
        ("scenario", pa.string()),
        ("opener", pa.string()),
        ("repetition", pa.int32()),
        ("seed", pa.uint64()),
        ("agreement", pa.int64()),
        ("agreed", pa.bool_()),
        ("rounds", pa.int32()),
        ("utility_agent", pa.float64()),
        ("utility_opponent", pa.float64()),
        ("welfare", pa.float64()),
        ("nash_distance", pa.float64()),
        ("pareto_optimal", pa.bool_()),
    ]
)
"""One row per run. ``agreement``, ``nash_distance`` and ``pareto_optimal`` are null without an agreement
(``nash_distance`` also when the scenario has no Nash point)."""

_OPENERS = ("A", "B")


@dataclass(frozen=True)
class Problem:
    """One bilateral negotiation problem over an enumerated outcome space (the array contract).

    Attributes:
        name: A unique name, e.g. ``<file stem>#<profile id>``.
        utilities: ``(n_outcomes, 2)``: column 0 is party A, column 1 party B.
        reserved: ``(2,)``: the reserved values of A and B.
        shape: The number of values of each issue.
        n_rounds: The alternating-offers round limit.
    """

    name: str
    utilities: NDArray[np.float64]
    reserved: NDArray[np.float64]
    shape: tuple[int, ...]
    n_rounds: int


def problems_from_file(path: Path) -> list[Problem]:
    """Return one problem per profile of a shared-format scenario file (via ``negotiation.scenario``).

    Raises:
        ConfigurationError: If the file cannot be read, or a field is missing or malformed (named by
            its JSON path).
        EncodingError: If the file is not JSON.
    """
    scenario = load_scenario(path)
    return [
        Problem(
            f"{path.stem}#{profile.profile_id}",
            scenario.utilities(i),
            scenario.reserved(i),
            scenario.space.shape,
            scenario.n_rounds,
        )
        for i, profile in enumerate(scenario.profiles)
    ]


@dataclass(frozen=True)
class RunSpec:
    """One negotiation of a tournament.

    Attributes:
        run_id: A stable key (also the resumption key).
        agent: The agent's name (party A).
        opponent: The opponent's name (party B).
        scenario: The scenario's name.
        opener: ``"A"`` or ``"B"``: who acts first.
        repetition: ``0 .. repetitions - 1``.
        seed: The run's seed, derived from the tournament seed and ``run_id``.
    """

    run_id: str
    agent: str
    opponent: str
    scenario: str
    opener: str
    repetition: int
    seed: int


def derive_seed(base_seed: int, run_id: str) -> int:
    """Return the 64-bit seed of a run: ``SeedSequence([base_seed, *sha256(run_id) words])``."""
    digest = hashlib.sha256(run_id.encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    state = np.random.SeedSequence([base_seed, *words]).generate_state(1, np.uint64)
    return int(state[0])


@dataclass(frozen=True)
class Tournament:
    """The Cartesian product to play.

    Attributes:
        agents: Agent names (see :data:`~backchannel.negotiation.agents.AGENT_NAMES`), party A.
        opponents: Agent names, party B.
        scenarios: The problems, each with its own round limit.
        repetitions: How many times each combination is played (matters for random agents).
        openers: Which sides open (both by default).
        seed: The tournament seed.
    """

    agents: tuple[str, ...]
    opponents: tuple[str, ...]
    scenarios: tuple[Problem, ...]
    repetitions: int = 1
    openers: tuple[str, ...] = _OPENERS
    seed: int = 0

    def __post_init__(self) -> None:
        """Check the names and sizes, naming the field that is wrong.

        Raises:
            ConfigurationError: On an empty list, an unknown agent or opener, duplicate scenario
                names or fewer than one repetition.
        """
        for field in ("agents", "opponents", "scenarios", "openers"):
            if not getattr(self, field):
                raise ConfigurationError(f"tournament.{field}: must not be empty")
        for field in ("agents", "opponents"):
            for i, name in enumerate(getattr(self, field)):
                make_agent(name, field=f"tournament.{field}[{i}]")
        if bad := [o for o in self.openers if o not in _OPENERS]:
            raise ConfigurationError(f"tournament.openers: must be 'A' or 'B' (got {bad})")
        names = [s.name for s in self.scenarios]
        if len(set(names)) != len(names):
            raise ConfigurationError("tournament.scenarios: names must be unique")
        if self.repetitions < 1:
            raise ConfigurationError(f"tournament.repetitions: must be >= 1 (got {self.repetitions})")

    def runs(self) -> list[RunSpec]:
        """Return every run, in a fixed order, with its derived seed."""
        specs = []
        for agent in self.agents:
            for opponent in self.opponents:
                for scenario in self.scenarios:
                    for opener in self.openers:
                        for rep in range(self.repetitions):
                            run_id = f"{agent}|{opponent}|{scenario.name}|{opener}|{rep}|seed={self.seed}"
                            seed = derive_seed(self.seed, run_id)
                            specs.append(RunSpec(run_id, agent, opponent, scenario.name, opener, rep, seed))
        return specs


@dataclass(frozen=True)
class TournamentReport:
    """What :func:`run_tournament` did.

    Attributes:
        out_dir: Where the Parquet parts are.
        total: Runs in the tournament.
        skipped: Runs already completed in ``out_dir`` before this call.
        played: Runs played by this call.
        parts: Part files written by this call.
    """

    out_dir: Path
    total: int
    skipped: int
    played: int
    parts: tuple[Path, ...]


class _Analysed:
    """A scenario with its Nash point and Pareto mask computed once per worker."""

    def __init__(self, profile: Problem) -> None:
        self.profile = profile
        self.nash = nash_point(profile.utilities, profile.reserved)
        self.pareto = pareto_mask(profile.utilities)


def _row(spec: RunSpec, scenario: _Analysed) -> dict[str, Any]:
    """Play one run and return its result row."""
    p = scenario.profile
    result = run_sao(
        [make_agent(spec.agent), make_agent(spec.opponent)],
        p.utilities,
        p.reserved,
        n_rounds=p.n_rounds,
        rng=np.random.default_rng(spec.seed),
        opener=_OPENERS.index(spec.opener),
    )
    i = result.agreement
    ua, ub = result.utilities
    return {
        "run_id": spec.run_id,
        "agent": spec.agent,
        "opponent": spec.opponent,
        "scenario": spec.scenario,
        "opener": spec.opener,
        "repetition": spec.repetition,
        "seed": spec.seed,
        "agreement": i,
        "agreed": i is not None,
        "rounds": result.rounds,
        "utility_agent": ua,
        "utility_opponent": ub,
        "welfare": ua + ub,
        "nash_distance": None
        if i is None or scenario.nash is None
        else distance(p.utilities, i, scenario.nash),
        "pareto_optimal": None if i is None else bool(scenario.pareto[i]),
    }


def play_chunk(specs: Sequence[RunSpec], scenarios: dict[str, Problem]) -> list[dict[str, Any]]:
    """Play some runs (in any process) and return their rows, in order.

    Args:
        specs: The runs.
        scenarios: At least the scenarios the runs name, by name.

    Returns:
        One row per run, as in :data:`RESULT_SCHEMA`.
    """
    analysed: dict[str, _Analysed] = {}
    rows = []
    for spec in specs:
        if spec.scenario not in analysed:
            analysed[spec.scenario] = _Analysed(scenarios[spec.scenario])
        rows.append(_row(spec, analysed[spec.scenario]))
    return rows


def _parts(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("part-*.parquet"))


def completed_run_ids(out_dir: Path) -> set[str]:
    """Return the ids of every run already written under ``out_dir`` (empty if there is none)."""
    done: set[str] = set()
    for part in _parts(out_dir):
        done.update(pq.read_table(part, columns=["run_id"]).column("run_id").to_pylist())
    return done


def read_results(out_dir: Path, tournament: Tournament | None = None) -> pa.Table:
    """Return the rows written under ``out_dir`` as one table (:data:`RESULT_SCHEMA`).

    Args:
        out_dir: The results directory.
        tournament: Keep only this tournament's runs (a directory may hold several); all by default.

    Raises:
        ConfigurationError: If the directory holds no results.
    """
    parts = _parts(out_dir)
    if not parts:
        raise ConfigurationError(f"{out_dir}: no tournament results (part-*.parquet) found")
    table = pa.concat_tables([pq.read_table(p, schema=RESULT_SCHEMA) for p in parts])
    if tournament is None:
        return table
    wanted = pa.array([spec.run_id for spec in tournament.runs()], pa.string())
    return table.filter(pc.is_in(table.column("run_id"), value_set=wanted))


def _write_part(out_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows atomically as ``part-<hash of their run ids>.parquet``."""
    key = hashlib.sha256("\n".join(r["run_id"] for r in rows).encode()).hexdigest()[:16]
    final = out_dir / f"part-{key}.parquet"
    tmp = out_dir / f".part-{key}.parquet.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=RESULT_SCHEMA), tmp)
    tmp.replace(final)
    return final


def _chunks(specs: list[RunSpec], size: int) -> Iterator[list[RunSpec]]:
    for start in range(0, len(specs), size):
        yield specs[start : start + size]


def run_tournament(  # noqa: PLR0913 - the tournament and where it goes, then options by keyword
    tournament: Tournament,
    out_dir: Path,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    chunk_size: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> TournamentReport:
    """Play every run of ``tournament`` not yet in ``out_dir`` and write the results as Parquet.

    Args:
        tournament: The runs to play.
        out_dir: The results directory (created if needed; completed runs found there are skipped).
        workers: Local worker processes (default ``min(2, cpu count)``; 1 plays in this process).
        ray_address: Play on this Ray cluster instead (``"auto"``, ``"ray://host:10001"``, ...).
        chunk_size: Runs per task (and per Parquet part).
        on_progress: Called as ``on_progress(done, total)`` after each chunk (and once at start).

    Returns:
        What was played and written.

    Raises:
        ConfigurationError: On bad worker or chunk counts, or Ray asked for but not installed.
    """
    if chunk_size < 1 or (workers is not None and workers < 1):
        raise ConfigurationError("workers/chunk_size: must be >= 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = tournament.runs()
    done = completed_run_ids(out_dir)
    pending = [s for s in specs if s.run_id not in done]
    scenarios = {s.name: s for s in tournament.scenarios}
    chunks = list(_chunks(pending, chunk_size))
    written: list[Path] = []
    progress = len(specs) - len(pending)

    def finish(rows: list[dict[str, Any]]) -> None:
        nonlocal progress
        written.append(_write_part(out_dir, rows))
        progress += len(rows)
        if on_progress is not None:
            on_progress(progress, len(specs))

    if on_progress is not None:
        on_progress(progress, len(specs))
    if ray_address is not None:
        for rows in ray_map(play_chunk, chunks, scenarios, ray_address):
            finish(rows)
    else:
        _run_locally(chunks, scenarios, workers or min(2, os.cpu_count() or 1), finish)
    return TournamentReport(out_dir, len(specs), len(specs) - len(pending), len(pending), tuple(written))


def _needed(chunk: list[RunSpec], scenarios: dict[str, Problem]) -> dict[str, Problem]:
    """The scenarios a chunk plays (so a worker is sent only those arrays)."""
    return {name: scenarios[name] for name in {spec.scenario for spec in chunk}}


def _run_locally(
    chunks: list[list[RunSpec]],
    scenarios: dict[str, Problem],
    workers: int,
    finish: Callable[[list[dict[str, Any]]], None],
) -> None:
    if workers == 1 or len(chunks) <= 1:
        for chunk in chunks:
            finish(play_chunk(chunk, scenarios))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(play_chunk, chunk, _needed(chunk, scenarios)) for chunk in chunks]
        for future in as_completed(futures):
            finish(future.result())


def summarize(table: pa.Table) -> list[dict[str, Any]]:
    """Aggregate a results table per (agent, opponent).

    Args:
        table: Rows as in :data:`RESULT_SCHEMA` (e.g. from :func:`read_results`).

    Returns:
        One dict per pairing, sorted by agent then opponent, with ``runs``, ``agreement_rate``,
        ``mean_rounds`` (over agreements), ``mean_welfare``, ``mean_utility_agent``,
        ``mean_utility_opponent`` and ``mean_nash_distance`` (over agreements with a Nash point;
        None when there is none).
    """
    agreed_rounds = pc.if_else(table.column("agreed"), table.column("rounds"), pa.scalar(None, pa.int32()))
    work = table.append_column("agreed_int", pc.cast(table.column("agreed"), pa.int8())).append_column(
        "agreed_rounds", agreed_rounds
    )
    grouped = work.group_by(["agent", "opponent"]).aggregate(
        [
            ("run_id", "count"),
            ("agreed_int", "mean"),
            ("agreed_rounds", "mean"),
            ("welfare", "mean"),
            ("utility_agent", "mean"),
            ("utility_opponent", "mean"),
            ("nash_distance", "mean"),
        ]
    )
    rows = [
        {
            "agent": r["agent"],
            "opponent": r["opponent"],
            "runs": r["run_id_count"],
            "agreement_rate": r["agreed_int_mean"],
            "mean_rounds": r["agreed_rounds_mean"],
            "mean_welfare": r["welfare_mean"],
            "mean_utility_agent": r["utility_agent_mean"],
            "mean_utility_opponent": r["utility_opponent_mean"],
            "mean_nash_distance": r["nash_distance_mean"],
        }
        for r in grouped.to_pylist()
    ]
    return sorted(rows, key=lambda r: (r["agent"], r["opponent"]))
