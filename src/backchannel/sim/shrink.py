"""A failure you can act on: the seed, the schedule, the command, and a shrunk schedule.

:func:`shrink` is greedy delta debugging over a fault schedule: drop one fault
at a time, keep the drop while the run still breaks an invariant, repeat until
no single fault can go (bounded by ``max_runs``). :func:`check_run` runs a seed
and raises :class:`InvariantViolation` carrying all of it.

This module does not choose faults or check invariants itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from backchannel.errors import BackchannelError
from backchannel.sim.faults import Fault
from backchannel.sim.node import AppFactory
from backchannel.sim.run import RunResult, run_scenario
from backchannel.sim.scenario import Scenario
from backchannel.store.base import EventStore

__all__ = ["InvariantViolation", "check_run", "shrink"]


class InvariantViolation(BackchannelError):  # noqa: N818 - reads as what happened
    """A run broke an invariant.

    Attributes:
        result: The failing run.
        shrunk: The fewest faults found that still break it.
        command: The one-line command that reproduces it.
    """

    def __init__(self, result: RunResult, shrunk: Sequence[Fault], command: str) -> None:
        """Build the message: seed, violations, schedule, shrunk schedule, command."""
        self.result = result
        self.shrunk = list(shrunk)
        self.command = command
        lines = [
            f"scenario {result.scenario}, seed {result.seed}: {len(result.violations)} invariant(s) broken",
            *(f"  - {v}" for v in result.violations),
            "fault schedule: " + ("; ".join(f.describe() for f in result.faults) or "none"),
            "shrunk schedule: "
            + ("; ".join(f.describe() for f in self.shrunk) or "none (fails without faults)"),
            f"reproduce: {command}",
        ]
        super().__init__("\n".join(lines))


def shrink(  # noqa: PLR0913 - the run to shrink, then keyword-only bounds
    scenario: Scenario,
    seed: int,
    make_app: AppFactory,
    faults: Sequence[Fault],
    *,
    max_runs: int = 64,
    store_factory: type[EventStore] | None = None,
) -> list[Fault]:
    """The smallest schedule (greedy, one fault at a time) under which ``seed`` still fails."""
    current = list(faults)
    runs = 0
    changed = True
    while changed and runs < max_runs:
        changed = False
        for i in range(len(current)):
            trial = current[:i] + current[i + 1 :]
            runs += 1
            store = store_factory() if store_factory else None
            if run_scenario(scenario, seed, make_app, faults=trial, store=store).violations:
                current, changed = trial, True
                break
            if runs >= max_runs:
                break
    return current


def check_run(  # noqa: PLR0913 - what to run, then keyword-only variations
    scenario: Scenario,
    seed: int,
    make_app: AppFactory,
    *,
    source: str | None = None,
    store_factory: type[EventStore] | None = None,
    sqlite: bool = False,
) -> RunResult:
    """Run ``seed``; if an invariant breaks, shrink the schedule and raise.

    Raises:
        InvariantViolation: with the seed, the schedule, the shrunk schedule and the command.
    """
    result = run_scenario(
        scenario, seed, make_app, store=store_factory() if store_factory else None, sqlite=sqlite
    )
    if result.violations:
        shrunk = shrink(scenario, seed, make_app, result.faults, store_factory=store_factory)
        command = f"backchannel rehearse run {source or scenario.name} --seed {seed}" + (
            " --sqlite" if sqlite else ""
        )
        raise InvariantViolation(result, shrunk, command)
    return result
