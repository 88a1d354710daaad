"""Benchmark the negotiation engines (issue #9) next to NegMAS 0.16.0, on the shared scenario.

Run with ``.venv-bench/bin/python bench/negotiation.py [--n 20000] [--quick] [--sweep 1000000]``
(``make bench`` builds ``.venv-bench`` with ``requirements-bench.txt``, where NegMAS lives; NegMAS is
AGPL-3.0 and is never a dependency of backchannel).

1. NegMAS (``SAOMechanism`` with ``BoulwareTBNegotiator`` and ``ConcederTBNegotiator``), our reference
   engine and our vectorised engine each play negotiations ``0 .. N-1`` of the scenario's schedule
   (profile ``i mod 50``, opener A then B). Timed as the scenario's ``metrics.negotiations_per_second``
   says: construction and run of each negotiation; loading the scenario is excluded. Wall and CPU time
   are both reported (CPU time is robust on a shared machine).
2. The outcomes (agreement and round) must be identical across the three before any ratio is printed.
3. ``--sweep M`` plays M negotiations with the vectorised engine on 2 local processes
   (``concurrent.futures.ProcessPoolExecutor``) and reports wall time and peak memory
   (``resource.getrusage``), checking the totals against the per-pair results.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from backchannel.negotiation import engine, vector
from backchannel.negotiation.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / ".." / "shared" / "scenarios" / "sao-3x10-boulware-vs-conceder.json"
Outcome = tuple[tuple[Any, ...] | None, int]


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(label: str, play: Callable[[], list[Outcome]], n: int) -> tuple[list[Outcome], float, float]:
    """Run ``play`` once; return its outcomes, negotiations/s (wall) and per CPU-second."""
    say(f"{label}: {n:,} negotiations")
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = play()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate, per_cpu = n / wall, n / max(cpu, 1e-9)
    print(
        f"  {label:<12} {rate:>14,.0f} negotiations/s {per_cpu:>14,.0f} per CPU-second  ({wall:.3f} s wall)"
    )
    return outcomes, rate, per_cpu


def run_reference(scenario: Scenario, n: int) -> list[Outcome]:
    out: list[Outcome] = []
    for i in range(n):
        record = engine.play_profile(scenario, *scenario.negotiation(i))
        out.append(
            (None if record.agreement is None else scenario.space.outcome(record.agreement), record.rounds)
        )
    return out


def run_vector(scenario: Scenario, n: int) -> list[Outcome]:
    result = vector.play_scenario(scenario, n)
    return [
        (None if g < 0 else scenario.space.outcome(int(g)), int(r))
        for g, r in zip(result.agreement, result.rounds, strict=True)
    ]


def negmas_runner(scenario: Scenario) -> Callable[[int], list[Outcome]] | None:
    """A NegMAS player for the scenario, or None when NegMAS 0.16.0 is not installed here."""
    try:
        import negmas
        from negmas import SAOMechanism, make_issue
        from negmas.preferences import LinearAdditiveUtilityFunction
        from negmas.preferences.value_fun import TableFun
        from negmas.sao import BoulwareTBNegotiator, ConcederTBNegotiator
    except ImportError as e:
        say(f"NegMAS is not importable ({e}); install requirements-bench.txt (negmas==0.16.0)")
        return None
    say(f"NegMAS {negmas.__version__}")
    issues = [make_issue(values=list(issue.values), name=issue.name) for issue in scenario.space.issues]
    classes = {"A": BoulwareTBNegotiator, "B": ConcederTBNegotiator}

    def ufun(prefs: Any, outcome_space: Any) -> Any:
        tables = [
            TableFun(dict(zip(issue.values, function.values, strict=True)))
            for issue, function in zip(issues, prefs.value_functions, strict=True)
        ]
        return LinearAdditiveUtilityFunction(
            values=tables,
            weights=list(prefs.weights),
            outcome_space=outcome_space,
            reserved_value=prefs.reserved_value,
        )

    def play(n: int) -> list[Outcome]:
        out: list[Outcome] = []
        for i in range(n):
            profile, opener = scenario.negotiation(i)
            prefs = {"A": scenario.profiles[profile].a, "B": scenario.profiles[profile].b}
            mechanism = SAOMechanism(issues=issues, n_steps=scenario.n_rounds)
            for party in (opener, "B" if opener == "A" else "A"):
                mechanism.add(classes[party](name=party), ufun=ufun(prefs[party], mechanism.outcome_space))
            mechanism.run()
            agreement = mechanism.agreement
            out.append((None if agreement is None else tuple(agreement), mechanism.state.step))
        return out

    return play


def compare(results: dict[str, list[Outcome]]) -> None:
    """Stop with a non-zero status unless every engine gave the same agreement in the same round."""
    names = list(results)
    base = results[names[0]]
    for name in names[1:]:
        diffs = [i for i, (x, y) in enumerate(zip(base, results[name], strict=True)) if x != y]
        if diffs:
            i = diffs[0]
            say(f"MISMATCH {names[0]} vs {name}: {len(diffs)} negotiations differ")
            say(f"first #{i}: {base[i]} vs {results[name][i]}")
            sys.exit(1)
    agreed = sum(1 for a, _ in base if a is not None)
    print(f"  identical outcomes (agreement and round) across {', '.join(names)}:")
    print(f"  {len(base):,} negotiations, {agreed:,} agreements")


_CACHE: dict[str, Any] = {}


def _sweep_chunk(bounds: tuple[int, int]) -> tuple[int, int, int]:
    """Play negotiations ``start .. stop-1`` in a worker; return (count, agreements, sum of rounds)."""
    if "schedules" not in _CACHE:
        scenario = load_scenario(SCENARIO)
        _CACHE["scenario"], _CACHE["schedules"] = scenario, vector.prepare_scenario(scenario)
    scenario, (a, b) = _CACHE["scenario"], _CACHE["schedules"]
    i = np.arange(*bounds)
    result = vector.play(a, b, i % scenario.n_profiles, (i // scenario.n_profiles) % 2 == 0)
    agreed = result.agreement >= 0
    return len(i), int(agreed.sum()), int(result.rounds[agreed].sum())


def sweep(scenario: Scenario, total: int, workers: int, chunk: int) -> None:
    say(f"sweep: {total:,} negotiations on {workers} local processes, chunks of {chunk:,}")
    wall, cpu = time.perf_counter(), time.process_time()
    bounds = [(s, min(s + chunk, total)) for s in range(0, total, chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_sweep_chunk, bounds))
    wall = time.perf_counter() - wall
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time() - cpu + children.ru_utime + children.ru_stime
    played, agreed, rounds = (sum(p[k] for p in parts) for k in range(3))
    # check the totals against the 2 * n_profiles distinct (profile, opener) results
    pairs = vector.play_scenario(scenario, 2 * scenario.n_profiles)
    i = np.arange(total)
    pair = (i % scenario.n_profiles) + scenario.n_profiles * ((i // scenario.n_profiles) % 2)
    expected_agreed = int((pairs.agreement[pair] >= 0).sum())
    expected_rounds = int(pairs.rounds[pair][pairs.agreement[pair] >= 0].sum())
    if (played, agreed, rounds) != (total, expected_agreed, expected_rounds):
        say(f"SWEEP MISMATCH: {(played, agreed, rounds)} vs {(total, expected_agreed, expected_rounds)}")
        sys.exit(1)
    print(f"  sweep of {total:,} negotiations, {workers} processes: {wall:.2f} s wall, {total / wall:,.0f}/s")
    print(f"  CPU time {cpu:.2f} s (parent and workers)")
    print(
        f"  agreements {agreed:,} ({agreed / total:.1%}), mean rounds {rounds / max(agreed, 1):.3f} (checked)"
    )
    peak_parent, peak_worker = own.ru_maxrss / 1024, children.ru_maxrss / 1024
    print(f"  peak memory (max RSS): parent {peak_parent:.0f} MiB, largest worker {peak_worker:.0f} MiB")


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=20_000, help="negotiations per engine (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N = 200 and a 100,000 sweep")
    parser.add_argument("--sweep", type=int, default=0, help="also run a sweep of this many negotiations")
    parser.add_argument("--workers", type=int, default=2, help="sweep processes (default 2)")
    parser.add_argument("--no-negmas", action="store_true", help="skip NegMAS (ours only)")
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.n
    scenario = load_scenario(args.scenario)
    print(f"negotiation benchmark: {scenario.name}, N = {n:,}, Python {sys.version.split()[0]}")
    results: dict[str, list[Outcome]] = {}
    rates: dict[str, tuple[float, float]] = {}
    runner = None if args.no_negmas else negmas_runner(scenario)
    players: list[tuple[str, Callable[[], list[Outcome]]]] = [
        ("reference", lambda: run_reference(scenario, n)),
        ("vector", lambda: run_vector(scenario, n)),
    ]
    if runner is not None:
        players.insert(0, ("negmas", lambda: runner(n)))
    for name, play in players:
        results[name], *rate = timed(name, play, n)
        rates[name] = (rate[0], rate[1])
    compare(results)
    for x, y in (("vector", "negmas"), ("reference", "negmas"), ("vector", "reference")):
        if x in rates and y in rates:
            wall, cpu = rates[x][0] / rates[y][0], rates[x][1] / rates[y][1]
            print(f"  ratio {x}/{y}: {wall:,.1f}x wall, {cpu:,.1f}x per CPU-second")
    total = 100_000 if args.quick and not args.sweep else args.sweep
    if total:
        sweep(scenario, total, args.workers, chunk=min(50_000, total))


if __name__ == "__main__":
    main(sys.argv[1:])
