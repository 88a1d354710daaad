"""``backchannel rehearse``: run a scenario on the simulator, one seed or a sweep (issue #11).

- ``rehearse run SCENARIO --seed N [--sqlite] [--json] [--report out.html]`` runs one seed
  and checks every invariant (``--report`` writes its timeline as an HTML page); a
  violation prints the seed, the fault schedule, the shrunk
  schedule and the command that reproduces it, and exits 1.
- ``rehearse sweep SCENARIO --seeds 200 [--first 0] [--workers 2 | --ray-address ADDR] [--sqlite] [--json]``
  runs many seeds with a progress bar and reports the violations (must be 0)
  and acknowledgement latency per priority as distributions.
- ``rehearse list`` names the built-in scenarios.

SCENARIO is a built-in name (``doha-shuttle``) or a TOML file. This module
holds no simulation logic; it parses options, calls :mod:`backchannel.sim`
with the real HTTP app (:func:`backchannel.node.app_factory`) and renders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backchannel.cli.render import diagnostic
from backchannel.errors import BackchannelError
from backchannel.node import app_factory
from backchannel.sim import (
    BUILT_IN,
    InvariantViolation,
    RunResult,
    SweepReport,
    check_run,
    load_scenario,
    sweep,
)
from backchannel.sim.report import timeline_html

__all__ = ["rehearse_app"]

rehearse_app = typer.Typer(
    help="Rehearse a negotiation: the real service on a simulated network and clock, with faults.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)
T = TypeVar("T")

_Scenario = Annotated[
    str, typer.Argument(help=f"A built-in scenario ({', '.join(BUILT_IN)}) or a TOML file.")
]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
_Sqlite = Annotated[bool, typer.Option("--sqlite", help="Run on a temporary SQLite file, not in memory.")]


def _guarded(action: Callable[[], T]) -> T:
    """Run a command body; our errors become a diagnostic and exit status 1."""
    try:
        return action()
    except BackchannelError as error:
        _err.print(diagnostic(error))
        raise typer.Exit(1) from None


def _run_table(result: RunResult) -> Table:
    table = Table(title=f"{result.scenario}, seed {result.seed}", title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("faults", "\n".join(f.describe() for f in result.faults) or "none")
    table.add_row("commands sent", str(result.commands))
    table.add_row("log size", str(result.size))
    table.add_row("final root", result.root)
    table.add_row("virtual seconds", f"{result.virtual_seconds:.0f}")
    table.add_row("refused", "\n".join(result.refused) or "none")
    slo = [f"ack {p}: {max(v):g} s (max of {len(v)})" for p, v in sorted(result.latencies.items()) if v]
    slo += [f"detect silent: {v:g} s" for v in result.detect_silent]
    slo += [f"escalate: {v:g} s" for v in result.escalate]
    table.add_row("SLO figures", "\n".join(slo) or "none")
    table.add_row("SLO missed", "\n".join(result.slo_misses) or "none")
    table.add_row("takeovers, waits", "\n".join([*result.takeovers, *result.waits]) or "none")
    table.add_row("checks", "\n".join([*result.checks, *result.attacks]) or "none")
    if result.backpressure:
        table.add_row("held back (429)", str(result.backpressure))
    table.add_row("invariants", "[green]all hold[/]" if not result.violations else "[red]broken[/]")
    return table


@rehearse_app.command("run")
def run_command(
    scenario: _Scenario,
    seed: Annotated[int, typer.Option(help="The seed: one seed gives one run, byte for byte.")] = 0,
    sqlite: _Sqlite = False,
    as_json: _Json = False,
    report: Annotated[
        Path | None, typer.Option(help="Write the run's timeline here (a self-contained HTML page).")
    ] = None,
) -> None:
    """Run one seed of SCENARIO and check every invariant (exit 1 on a violation)."""

    def body() -> RunResult:
        loaded = load_scenario(scenario)
        try:
            result = check_run(loaded, seed, app_factory(), source=scenario, sqlite=sqlite)
        except InvariantViolation as violation:
            if report is not None:
                report.write_text(timeline_html(violation.result, reproduce=violation.command), "utf-8")
            if as_json:
                _out.print_json(json.dumps({
                    **violation.result.to_dict(), "shrunk": [f.to_dict() for f in violation.shrunk],
                    "reproduce": violation.command,
                }))  # fmt: skip
                raise typer.Exit(1) from None
            raise
        if report is not None:
            report.write_text(timeline_html(result), "utf-8")
        return result

    result = _guarded(body)
    if as_json:
        _out.print_json(json.dumps(result.to_dict()))
        return
    _out.print(_run_table(result))


def _sweep_table(report: SweepReport) -> Table:
    table = Table(title=f"{report.scenario}: {report.seeds} seeds, SLO figures (virtual s)")
    for column in ("figure", "n", "p50", "p90", "p99", "max", "SLO", "within SLO"):
        table.add_column(column, justify="right")
    rows = {f"ack {p}": d for p, d in report.distributions().items()}
    rows |= {name.replace("_", " "): d for name, d in report.timings().items()}
    for priority, d in rows.items():
        slo = report.slo.get(priority.removeprefix("ack ").replace(" ", "_"))
        table.add_row(
            priority, f"{d['count']:.0f}", f"{d['p50']:.1f}", f"{d['p90']:.1f}", f"{d['p99']:.1f}",
            f"{d['max']:.1f}", "-" if slo is None else f"{slo:g}", f"{d['within_slo']:.1%}",
        )  # fmt: skip
    return table


@rehearse_app.command("sweep")
def sweep_command(
    scenario: _Scenario,
    seeds: Annotated[int, typer.Option(min=1, help="How many seeds to run.")] = 200,
    first: Annotated[int, typer.Option(min=0, help="The first seed.")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 1,
    sqlite: _Sqlite = False,
    as_json: _Json = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Run on this Ray cluster instead of local processes ('auto', 'ray://host:10001'; "
            "needs the extra backchannel[ray]).",
        ),
    ] = None,
) -> None:
    """Run many seeds of SCENARIO: invariant violations (must be 0) and SLO distributions."""

    def body() -> SweepReport:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        bar = Progress(*columns, console=_err, transient=True, disable=as_json)
        with bar:
            task = bar.add_task(f"rehearsing {scenario}", total=seeds)
            return sweep(scenario, seeds, app_factory(), first=first, workers=workers, sqlite=sqlite,
                         progress=lambda _: bar.advance(task), ray_address=ray_address)  # fmt: skip

    report = _guarded(body)
    data: dict[str, Any] = report.to_dict()
    if as_json:
        _out.print_json(json.dumps(data))
    else:
        _out.print(_sweep_table(report))
        faults = ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items())) or "none"
        _out.print(f"faults applied: {faults}; commands sent: {report.commands}")
        _out.print(f"SLO misses: {report.slo_misses}; held back by backpressure (429): {report.backpressure}")
        style = "green" if not report.failing else "bold red"
        _out.print(f"[{style}]invariant violations: {data['violations']}[/]")
        for seed, problems in sorted(report.failing.items()):
            _out.print(f"  seed {seed}: {problems[0]}  (backchannel rehearse run {scenario} --seed {seed})")
    if report.failing:
        raise typer.Exit(1)


@rehearse_app.command("list")
def list_command(as_json: _Json = False) -> None:
    """Name the built-in scenarios."""
    scenarios = [load_scenario(name) for name in BUILT_IN]
    if as_json:
        _out.print_json(json.dumps([{"name": s.name, "title": s.title} for s in scenarios]))
        return
    for s in scenarios:
        _out.print(f"[bold]{s.name}[/]: {s.title}")
