"""Sweeps: many seeds of one scenario, on local processes or Ray, summarised as distributions.

:func:`sweep` runs seeds ``first .. first + count - 1`` (in worker processes
when ``workers > 1``, as Ray tasks with ``ray_address``) and gathers the
violations (which must be none) and the SLO figures: acknowledgement latency
per priority as percentiles, and how many deliveries missed their objective.

This module does not print (the CLI does) and does not shrink (a failing seed
is re-run with ``rehearse run``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backchannel.parallel import ray_map
from backchannel.sim.node import AppFactory
from backchannel.sim.run import RunResult, run_scenario
from backchannel.sim.scenario import Scenario, load_scenario

__all__ = ["SweepReport", "sweep"]


@dataclass
class SweepReport:
    """What a sweep found.

    Attributes:
        scenario: The scenario's name.
        seeds: How many seeds ran.
        failing: Seed -> its violations (must be empty).
        latencies: Priority -> every acknowledgement latency of every run.
        commands: Command POSTs over all runs.
        faults: Faults applied over all runs, by kind.
        slo: Priority -> the objective in seconds.
    """

    scenario: str
    seeds: int = 0
    failing: dict[int, list[str]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    commands: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    slo: dict[str, float] = field(default_factory=dict)
    detect_silent: list[float] = field(default_factory=list)
    escalate: list[float] = field(default_factory=list)
    slo_misses: int = 0
    backpressure: int = 0

    def add(self, result: RunResult) -> None:
        """Fold one run in."""
        self.seeds += 1
        self.commands += result.commands
        if result.violations:
            self.failing[result.seed] = result.violations
        for priority, values in result.latencies.items():
            self.latencies.setdefault(priority, []).extend(values)
        for fault in result.faults:
            self.faults[fault.kind] = self.faults.get(fault.kind, 0) + 1
        self.detect_silent.extend(result.detect_silent)
        self.escalate.extend(result.escalate)
        self.slo_misses += len(result.slo_misses)
        self.backpressure += result.backpressure

    def timings(self) -> dict[str, dict[str, float]]:
        """``detect_silent`` and ``escalate``: count, p50, p90, p99, max (seconds), share within SLO."""
        out = {}
        for name, values in (("detect_silent", self.detect_silent), ("escalate", self.escalate)):
            if values:
                out[name] = _summary(np.asarray(values), self.slo.get(name))
        return out

    def distributions(self) -> dict[str, dict[str, float]]:
        """Priority -> count, p50, p90, p99, max (seconds) and the share within its SLO."""
        out = {}
        for priority, values in sorted(self.latencies.items()):
            out[priority] = _summary(np.asarray(values), self.slo.get(priority))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "scenario": self.scenario,
            "seeds": self.seeds,
            "violations": sum(len(v) for v in self.failing.values()),
            "failing_seeds": {str(k): v for k, v in sorted(self.failing.items())},
            "commands": self.commands,
            "faults": self.faults,
            "ack_latency_seconds": self.distributions(),
            "timings_seconds": self.timings(),
            "slo_seconds": self.slo,
            "slo_misses": self.slo_misses,
            "backpressure": self.backpressure,
        }


def _summary(arr: np.ndarray[Any, np.dtype[np.float64]], slo: float | None) -> dict[str, float]:
    p50, p90, p99 = (float(x) for x in np.percentile(arr, [50, 90, 99]))
    within = float(np.mean(arr <= slo)) if slo is not None else 1.0
    return {"count": float(arr.size), "p50": p50, "p90": p90, "p99": p99,
            "max": float(arr.max()), "within_slo": within}  # fmt: skip


def _chunk(args: tuple[str, list[int], AppFactory, bool], _shared: None = None) -> list[RunResult]:
    source, seeds, make_app, sqlite = args
    scenario = load_scenario(source)
    return [run_scenario(scenario, seed, make_app, sqlite=sqlite) for seed in seeds]


def _one(args: tuple[str, int, AppFactory, bool]) -> RunResult:
    source, seed, make_app, sqlite = args
    return run_scenario(load_scenario(source), seed, make_app, sqlite=sqlite)


def sweep(  # noqa: PLR0913 - what to run, and how
    source: str,
    seeds: int,
    make_app: AppFactory,
    *,
    first: int = 0,
    workers: int = 1,
    progress: Callable[[RunResult], None] | None = None,
    sqlite: bool = False,
    ray_address: str | None = None,
    chunk: int = 50,
) -> SweepReport:
    """Run ``seeds`` seeds of the scenario ``source`` (a built-in name or a path).

    Each run is on the memory store, or on a temporary SQLite file with ``sqlite``.
    Runs go to ``workers`` local processes, or, with ``ray_address`` (``"auto"``,
    ``"ray://host:10001"``, a GCS address), to Ray tasks of ``chunk`` seeds each on
    that cluster (Ray is the optional extra ``backchannel[ray]``). A seed gives the
    same run wherever it runs; the report does not depend on the order runs finish.

    Raises:
        ConfigurationError: ``ray_address`` without Ray installed.
    """
    scenario: Scenario = load_scenario(source)
    slo = dict(scenario.ack_slo)
    if scenario.detect_silent_slo is not None:
        slo["detect_silent"] = scenario.detect_silent_slo
    if scenario.escalate_slo is not None:
        slo["escalate"] = scenario.escalate_slo
    report = SweepReport(scenario.name, slo=slo)
    with ExitStack() as stack:
        results: Iterable[RunResult]
        if ray_address is not None:
            numbers = list(range(first, first + seeds))
            step = max(1, chunk)
            parts = [(source, numbers[i : i + step], make_app, sqlite) for i in range(0, seeds, step)]
            results = (run for ran in ray_map(_chunk, parts, None, ray_address) for run in ran)
        else:
            jobs = [(source, seed, make_app, sqlite) for seed in range(first, first + seeds)]
            if workers <= 1:
                results = map(_one, jobs)
            else:
                pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
                results = pool.map(_one, jobs, chunksize=4)
        for result in results:
            report.add(result)
            if progress:
                progress(result)
    return report
