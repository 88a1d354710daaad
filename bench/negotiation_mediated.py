"""Benchmark the mediated protocols and the tournament runner (issue #9) next to NegMAS 0.16.0.

Run with ``.venv-bench/bin/python bench/negotiation_mediated.py [--reps 4] [--quick]`` (``make bench``
builds ``.venv-bench`` with NegMAS, which is AGPL-3.0 and never a dependency of backchannel).

1. Single negotiating texts on every profile of the shared scenario, ``--reps`` seeds each:
   NegMAS's ``VetoSTMechanism`` and ``HillClimbingSTMechanism`` (``BinaryComparatorNegotiator``,
   100 steps, ``seed_all(12345 + i)`` as the file's ``mediated_variant`` says) and ours:
   ``run_veto_text`` (the same rules, 100 rounds), ``run_nash_climb`` (1,000 proposals) and the veto
   text followed by ``run_post_settlement`` (400 proposals). Reported per protocol: agreement rate,
   irrational agreements (some party below its reserved value), Pareto-optimal agreements, mean
   distance to the Nash point, mean rounds, runs per second and per CPU-second. Veto texts are
   random: compare distributions, not runs.
2. Tournament throughput: the same tournament (agents x opponents x profiles x both openers) with
   ``workers=1`` and ``workers=2`` (spawned processes), rows checked identical; and the BOA agents'
   ``run_sao`` next to the reference engine on the scenario's Boulware-Conceder schedule (outcomes
   checked identical).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from backchannel.negotiation import engine
from backchannel.negotiation.agents import boulware, conceder
from backchannel.negotiation.analysis import distance, nash_point, pareto_mask
from backchannel.negotiation.protocols import (
    comparators_for,
    run_nash_climb,
    run_post_settlement,
    run_sao,
    run_veto_text,
)
from backchannel.negotiation.scenario import Scenario, load_scenario
from backchannel.negotiation.tournament import Tournament, problems_from_file, read_results, run_tournament

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / ".." / "shared" / "scenarios" / "sao-3x10-boulware-vs-conceder.json"
Play = Callable[[Scenario, int, int], int | None]  # (scenario, profile, repetition) -> agreement index


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ours(kind: str) -> Play:
    def play(scenario: Scenario, i: int, rep: int) -> int | None:
        u, r = scenario.utilities(i), scenario.reserved(i)
        parties = comparators_for(u, r)
        rng = np.random.default_rng(12345 + i + 1000 * rep)
        if kind == "veto":
            return run_veto_text(parties, u.shape[0], n_rounds=100, rng=rng).agreement
        if kind == "climb":
            return run_nash_climb(parties, scenario.space.shape, n_rounds=1000, rng=rng).agreement
        deal = run_veto_text(parties, u.shape[0], n_rounds=100, rng=rng).agreement
        if deal is None:
            return None
        return run_post_settlement(parties, scenario.space.shape, deal, n_rounds=400, rng=rng).agreement

    return play


def negmas_players(scenario: Scenario) -> dict[str, Play]:
    try:
        from negmas import make_issue, seed_all
        from negmas.negotiators.simple import BinaryComparatorNegotiator
        from negmas.preferences import LinearAdditiveUtilityFunction
        from negmas.preferences.value_fun import TableFun
        from negmas.st import HillClimbingSTMechanism, VetoSTMechanism
    except ImportError as e:
        say(f"NegMAS is not importable ({e}); install requirements-bench.txt (negmas==0.16.0)")
        return {}
    issues = [make_issue(values=list(issue.values), name=issue.name) for issue in scenario.space.issues]

    def ufun(prefs: Any, outcome_space: Any) -> Any:
        tables = [
            TableFun(dict(zip(issue.values, f.values, strict=True)))
            for issue, f in zip(issues, prefs.value_functions, strict=True)
        ]
        return LinearAdditiveUtilityFunction(
            values=tables,
            weights=list(prefs.weights),
            outcome_space=outcome_space,
            reserved_value=prefs.reserved_value,
        )

    def player(mechanism: Any) -> Play:
        def play(scenario: Scenario, i: int, rep: int) -> int | None:
            seed_all(12345 + i + 1000 * rep)
            m = mechanism(issues=issues, n_steps=100)
            profile = scenario.profiles[i]
            for party, prefs in (("A", profile.a), ("B", profile.b)):
                m.add(BinaryComparatorNegotiator(name=party), ufun=ufun(prefs, m.outcome_space))
            m.run()
            agreement = m.agreement
            while isinstance(agreement, tuple) and len(agreement) == 1 and isinstance(agreement[0], tuple):
                agreement = agreement[0]  # the hill climber sometimes wraps the outcome once more
            return None if agreement is None else scenario.space.index(tuple(agreement))

        return play

    return {"negmas-veto": player(VetoSTMechanism), "negmas-hillclimb": player(HillClimbingSTMechanism)}


def measure(name: str, play: Play, scenario: Scenario, reps: int) -> None:
    agreements, irrational, efficient, dists, runs = 0, 0, 0, [], 0
    wall, cpu = time.perf_counter(), time.process_time()
    for rep in range(reps):
        for i in range(len(scenario.profiles)):
            runs += 1
            agreement = play(scenario, i, rep)
            if agreement is None:
                continue
            u, r = scenario.utilities(i), scenario.reserved(i)
            agreements += 1
            irrational += bool(np.any(u[agreement] < r))
            efficient += bool(pareto_mask(u)[agreement])
            nash = nash_point(u, r)
            if nash is not None:
                dists.append(distance(u, agreement, nash))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    to_nash = float(np.mean(dists)) if dists else float("nan")
    print(
        f"  {name:<18} agreed {agreements / runs:6.1%}  irrational {irrational:4d}  "
        f"Pareto-optimal {efficient / max(agreements, 1):6.1%}  to Nash {to_nash:.4f}  "
        f"{runs / wall:8,.0f} runs/s {runs / max(cpu, 1e-9):8,.0f} per CPU-s"
    )


def tournament_throughput(quick: bool) -> None:
    problems = problems_from_file(SCENARIO)[: 5 if quick else 25]
    plan = Tournament(
        ("boulware", "linear", "conceder", "tit-for-tat"),
        ("boulware", "conceder", "hardliner", "random"),
        tuple(problems),
        repetitions=1 if quick else 2,
    )
    n = len(plan.runs())
    rows = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            wall, cpu = time.perf_counter(), time.process_time()
            run_tournament(plan, Path(out), workers=workers, chunk_size=100)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows[workers] = sorted(read_results(Path(out)).to_pylist(), key=lambda row: row["run_id"])
        print(f"  tournament, {workers} worker(s): {n:,} runs in {wall:.2f} s wall = {n / wall:,.0f} runs/s")
    if rows[1] != rows[2]:
        say("MISMATCH: the tournament rows differ between 1 and 2 workers")
        sys.exit(1)
    print("  identical rows with 1 and 2 workers")


def boa_vs_reference(scenario: Scenario, n: int) -> None:
    timings = {}
    results: dict[str, list[tuple[int | None, int]]] = {"reference": [], "boa": []}
    for name, found in results.items():
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            profile, opener = scenario.negotiation(i)
            if name == "reference":
                record = engine.play_profile(scenario, profile, opener)
                found.append((record.agreement, record.rounds))
            else:
                u, r = scenario.utilities(profile), scenario.reserved(profile)
                side = 0 if opener == "A" else 1
                run = run_sao(
                    [boulware(), conceder()],
                    u,
                    r,
                    n_rounds=scenario.n_rounds,
                    rng=np.random.default_rng(0),
                    opener=side,
                )
                found.append((run.agreement, run.rounds))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        timings[name] = n / max(cpu, 1e-9)
        print(
            f"  {name:<10} {n / wall:8,.0f} negotiations/s {timings[name]:8,.0f} per CPU-s "
            f"(Boulware vs Conceder schedule, N={n:,})"
        )
    if results["reference"] != results["boa"]:
        say("MISMATCH: the BOA agents and the reference engine disagree")
        sys.exit(1)
    print(
        f"  identical outcomes; BOA / reference = {timings['boa'] / timings['reference']:.2f}x per CPU-second"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4, help="seeds per profile for the single texts")
    parser.add_argument("--quick", action="store_true", help="a smoke run (1 seed, small tournament)")
    args = parser.parse_args()
    reps = 1 if args.quick else args.reps
    scenario = load_scenario(SCENARIO)
    print(f"single negotiating texts: {len(scenario.profiles)} profiles x {reps} seed(s)")
    players: dict[str, Play] = {**negmas_players(scenario)}
    players |= {"veto": ours("veto"), "nash-climb": ours("climb"), "veto+post-settle": ours("post")}
    for name, play in players.items():
        measure(name, play, scenario, reps)
    print("tournaments and agents:")
    boa_vs_reference(scenario, 200 if args.quick else 2000)
    tournament_throughput(args.quick)


if __name__ == "__main__":
    main()
