"""``backchannel tournament run``: Cartesian negotiation tournaments from the command line.

``tournament run SCENARIO_FILE... --agent A --opponent B [--repetitions N] [--profiles K] --out DIR
[--workers N | --ray-address ADDR] [--seed S] [--plot PNG] [--json]`` plays every agent against every
opponent on every profile of the scenario files (both openers, ``N`` repetitions), writes the rows
as Parquet under ``DIR`` (a rerun skips completed runs), and prints a Rich table per pairing, or one
JSON document with ``--json``.

This module is a thin adapter over :mod:`backchannel.negotiation.tournament`; the negotiation
packages are imported only when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from backchannel.cli import render
from backchannel.errors import BackchannelError

__all__ = ["tournament_app"]

tournament_app = typer.Typer(
    help="Negotiation tournaments: agents x opponents x scenarios x repetitions, as Parquet.",
    no_args_is_help=True,
)


@tournament_app.callback()
def _group() -> None:
    """Negotiation tournaments: agents x opponents x scenarios x repetitions, as Parquet."""


_out = Console()
_err = Console(stderr=True)

Agents = Annotated[
    list[str],
    typer.Option(
        "--agent",
        "-a",
        help="An agent playing side A (repeatable): boulware, linear, conceder, "
        "aspiration:<exponent>, tit-for-tat, tit-for-tat-absolute, hardliner, random.",
    ),
]
Opponents = Annotated[
    list[str] | None,
    typer.Option("--opponent", "-o", help="An agent playing side B (repeatable; default: the --agent list)."),
]


def _summary_table(summary: list[dict[str, Any]]) -> Table:
    table = Table(
        title="tournament summary (agent plays A, opponent plays B)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("agent", no_wrap=True)
    table.add_column("opponent", no_wrap=True)
    for column in ("runs", "agreed", "rounds", "welfare", "to Nash"):
        table.add_column(column, justify="right", no_wrap=True)

    def num(value: float | None, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    for s in summary:
        table.add_row(
            s["agent"],
            s["opponent"],
            str(s["runs"]),
            num(s["agreement_rate"], ".0%"),
            num(s["mean_rounds"], ".1f"),
            num(s["mean_welfare"]),
            num(s["mean_nash_distance"]),
        )
    return table


@tournament_app.command("run")
def run(
    scenario_files: Annotated[list[Path], typer.Argument(help="Scenario files in the shared format.")],
    agents: Agents,
    out_dir: Annotated[Path, typer.Option("--out", help="Results directory (Parquet parts; resumable).")],
    opponents: Opponents = None,
    repetitions: Annotated[int, typer.Option("--repetitions", "-n", min=1, help="Runs per combination.")] = 1,
    profiles: Annotated[
        int | None, typer.Option("--profiles", min=1, help="Use only the first K profiles of each file.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="The tournament seed (run seeds derive from it).")] = 0,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Local worker processes (default: min(2, CPUs))."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Play on this Ray cluster (needs the backchannel\\[ray] extra)."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also write agreement-rate and welfare heatmaps to this PNG."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of tables.")
    ] = False,
) -> None:
    """Play a Cartesian tournament (both openers) and summarise it per (agent, opponent)."""
    try:
        document = _run(
            scenario_files,
            agents,
            opponents or agents,
            out_dir,
            repetitions,
            profiles,
            seed,
            workers,
            ray_address,
            plot,
            show_progress=not as_json,
        )
    except BackchannelError as e:
        _err.print(render.diagnostic(e))
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(document, indent=2, allow_nan=False))
        return
    _out.print(_summary_table(document["summary"]))
    _out.print(
        f"{document['played']} runs played, {document['skipped']} already done; results in {document['out']}"
        + (f"; heatmaps in {document['plot']}" if document["plot"] else ""),
        markup=False,
        soft_wrap=True,
    )


def _run(
    scenario_files: list[Path],
    agents: list[str],
    opponents: list[str],
    out_dir: Path,
    repetitions: int,
    profiles: int | None,
    seed: int,
    workers: int | None,
    ray_address: str | None,
    plot: Path | None,
    *,
    show_progress: bool,
) -> dict[str, Any]:
    from backchannel.negotiation import tournament as t  # the engine is loaded only when asked for

    scenarios = [p for path in scenario_files for p in t.problems_from_file(path)[:profiles]]
    plan = t.Tournament(tuple(agents), tuple(opponents), tuple(scenarios), repetitions=repetitions, seed=seed)
    if show_progress:
        with render.progress(_err, "negotiations", len(plan.runs())) as advance:
            report = t.run_tournament(
                plan, out_dir, workers=workers, ray_address=ray_address, on_progress=lambda d, _: advance(d)
            )
    else:
        report = t.run_tournament(plan, out_dir, workers=workers, ray_address=ray_address)
    table = t.read_results(out_dir, plan)
    if plot is not None:
        from backchannel.negotiation.plots import plot_tournament  # matplotlib only when asked for

        plot_tournament(table, plot)
    return {
        "out": str(out_dir),
        "total": report.total,
        "skipped": report.skipped,
        "played": report.played,
        "rows": table.num_rows,
        "summary": t.summarize(table),
        "plot": None if plot is None else str(plot),
    }
