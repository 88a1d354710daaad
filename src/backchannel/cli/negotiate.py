"""``backchannel negotiate``: play and analyse negotiation scenarios in the shared format (issue #9).

- ``negotiate run SCENARIO_FILE [--engine reference|vector] [--json]`` plays every (profile, opener)
  pair of the scenario once, in schedule order (profiles with opener A, then with opener B), and
  prints the outcomes with the summary metrics (agreement rate, mean rounds to agreement, mean
  distance to the Nash point);
- ``negotiate analyse SCENARIO_FILE [--profile I] [--json] [--plot OUT.png]`` prints each profile's
  analysis (Pareto frontier size, Nash, Kalai-Smorodinsky and maximum-welfare points, ZOPA size,
  opposition) and draws one profile's utility space as a PNG.

This module is a thin adapter: the rules live in :mod:`backchannel.negotiation`. It does not talk to
a server. Errors end as a red diagnostic panel and exit status 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from backchannel.cli import render
from backchannel.errors import BackchannelError, ConfigurationError
from backchannel.negotiation import analysis, engine, vector
from backchannel.negotiation.scenario import Scenario, load_scenario

__all__ = ["analyse_profile", "negotiate_app", "outcomes_document"]

negotiate_app = typer.Typer(
    help="Play and analyse negotiation scenarios (the shared scenario format).", no_args_is_help=True
)

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

ScenarioFile = Annotated[Path, typer.Argument(help="A scenario file (backchannel-bench-scenario/1).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _run(body: Callable[[], None]) -> None:
    try:
        body()
    except BackchannelError as e:
        _err.print(render.diagnostic(e))
        raise typer.Exit(1) from e


def _pairs(scenario: Scenario) -> list[tuple[int, Literal["A", "B"]]]:
    return [scenario.negotiation(i) for i in range(2 * scenario.n_profiles)]


def _play(scenario: Scenario, engine_name: str, show_progress: bool) -> list[tuple[int | None, int]]:
    pairs = _pairs(scenario)
    if engine_name == "vector":
        a, b = vector.prepare_scenario(scenario)
        result = vector.play(a, b, np.array([p for p, _ in pairs]), np.array([o == "A" for _, o in pairs]))
        return [
            (None if g < 0 else int(g), int(r)) for g, r in zip(result.agreement, result.rounds, strict=True)
        ]
    if not show_progress:
        return [_reference(scenario, profile, opener) for profile, opener in pairs]
    results: list[tuple[int | None, int]] = []
    with render.progress(_err, "negotiating", len(pairs)) as advance:
        for profile, opener in pairs:
            results.append(_reference(scenario, profile, opener))
            advance(len(results))
    return results


def _reference(scenario: Scenario, profile: int, opener: Literal["A", "B"]) -> tuple[int | None, int]:
    record = engine.play_profile(scenario, profile, opener)
    return record.agreement, record.rounds


def outcomes_document(
    scenario: Scenario, engine_name: str, results: Sequence[tuple[int | None, int]]
) -> dict[str, Any]:
    """The ``negotiate run --json`` document for played ``(agreement, rounds)`` results in schedule order.

    Metrics follow the scenario file: ``agreement_rate`` over all negotiations; ``mean_rounds`` and
    ``mean_nash_distance`` over agreements only (the distance only where the profile's Nash point is
    defined); ``null`` when there is nothing to average.
    """
    outcomes, rounds, distances = [], [], []
    nash = {
        p: analysis.nash_point(scenario.utilities(p), scenario.reserved(p))
        for p in range(scenario.n_profiles)
    }
    for (profile, opener), (agreement, k) in zip(_pairs(scenario), results, strict=True):
        values = None if agreement is None else list(scenario.space.outcome(agreement))
        outcomes.append({"profile": profile, "opener": opener, "agreement": values, "rounds": k})
        if agreement is not None:
            rounds.append(k)
            point = nash[profile]
            if point is not None:
                distances.append(analysis.distance(scenario.utilities(profile), agreement, point))
    return {
        "scenario": scenario.name,
        "engine": engine_name,
        "n_negotiations": len(outcomes),
        "outcomes": outcomes,
        "agreement_rate": len(rounds) / len(outcomes),
        "mean_rounds": _mean(rounds),
        "mean_nash_distance": _mean(distances),
    }


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


@negotiate_app.command("run")
def negotiate_run(
    scenario_file: ScenarioFile,
    engine_name: Annotated[
        str, typer.Option("--engine", help="reference (step by step) or vector (NumPy, all at once).")
    ] = "reference",
    as_json: JsonFlag = False,
) -> None:
    """Play every (profile, opener) pair of a scenario once and summarise the outcomes."""

    def body() -> None:
        if engine_name not in {"reference", "vector"}:
            raise ConfigurationError(f"--engine: unknown engine {engine_name!r} (known: reference, vector)")
        scenario = load_scenario(scenario_file)
        document = outcomes_document(scenario, engine_name, _play(scenario, engine_name, not as_json))
        if as_json:
            typer.echo(json.dumps(document))
            return
        _out.print(_run_table(document))

    _run(body)


def _run_table(document: dict[str, Any]) -> Table:
    table = Table(title=f"{document['scenario']}\n({document['engine']} engine)", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    agreed = sum(1 for o in document["outcomes"] if o["agreement"] is not None)
    table.add_row("negotiations", str(document["n_negotiations"]))
    table.add_row("agreements", f"{agreed} ({document['agreement_rate']:.1%})")
    for key in ("mean_rounds", "mean_nash_distance"):
        value = document[key]
        table.add_row(key.replace("_", " "), "-" if value is None else f"{value:.4f}")
    return table


def _point(scenario: Scenario, u: np.ndarray[Any, Any], index: int | None) -> dict[str, Any] | None:
    if index is None:
        return None
    return {"index": index, "outcome": list(scenario.space.outcome(index)), "utilities": u[index].tolist()}


def analyse_profile(scenario: Scenario, profile: int) -> dict[str, Any]:
    """The analysis of one profile as a JSON-ready dict.

    Raises:
        ConfigurationError: An unknown profile.
    """
    if not 0 <= profile < len(scenario.profiles):
        raise ConfigurationError(f"--profile: {profile} outside [0, {len(scenario.profiles)})")
    u, reserved = scenario.utilities(profile), scenario.reserved(profile)
    return {
        "profile": profile,
        "n_outcomes": scenario.space.n_outcomes,
        "reserved": reserved.tolist(),
        "pareto_size": len(analysis.pareto_frontier(u)),
        "nash": _point(scenario, u, analysis.nash_point(u, reserved)),
        "kalai": _point(scenario, u, analysis.kalai_point(u, reserved)),
        "max_welfare": _point(scenario, u, analysis.max_welfare_point(u)),
        "zopa_size": len(analysis.zopa(u, reserved)),
        "opposition": analysis.opposition(u),
    }


@negotiate_app.command("analyse")
def negotiate_analyse(
    scenario_file: ScenarioFile,
    profile: Annotated[
        int | None, typer.Option("--profile", help="Analyse only this profile (default: every profile).")
    ] = None,
    as_json: JsonFlag = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw the utility space of --profile (default 0) to this PNG file."),
    ] = None,
) -> None:
    """Pareto frontier, Nash, Kalai-Smorodinsky, max welfare, ZOPA and opposition of each profile."""

    def body() -> None:
        scenario = load_scenario(scenario_file)
        chosen = range(len(scenario.profiles)) if profile is None else [profile]
        profiles = [analyse_profile(scenario, p) for p in chosen]
        if plot is not None:
            _draw(scenario, 0 if profile is None else profile, plot)
        if as_json:
            typer.echo(json.dumps({"scenario": scenario.name, "profiles": profiles}))
            return
        _out.print(_analysis_table(scenario.name, profiles))
        if plot is not None:
            _out.print(f"plot written to {plot}")

    _run(body)


def _analysis_table(name: str, profiles: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"{name}: outcome analysis")
    for column in ("profile", "pareto", "nash", "kalai", "max welfare", "zopa", "opposition"):
        table.add_column(column, justify="right")
    for item in profiles:
        cells = [_cell(item[key]) for key in ("nash", "kalai", "max_welfare")]
        table.add_row(
            str(item["profile"]),
            str(item["pareto_size"]),
            *cells,
            str(item["zopa_size"]),
            f"{item['opposition']:.3f}",
        )
    return table


def _cell(point: dict[str, Any] | None) -> str:
    if point is None:
        return "-"
    return f"{tuple(point['outcome'])} ({', '.join(f'{x:.3f}' for x in point['utilities'])})"


def _draw(scenario: Scenario, profile: int, path: Path) -> None:
    """A PNG of the bilateral utility space: outcomes, Pareto frontier, Nash, Kalai, reserved values."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    analyse_profile(scenario, profile)  # validates the profile
    u, reserved = scenario.utilities(profile), scenario.reserved(profile)
    frontier = analysis.pareto_frontier(u)
    frontier = frontier[np.argsort(u[frontier, 0])]
    figure, axes = plt.subplots(figsize=(6, 6))
    axes.scatter(u[:, 0], u[:, 1], s=6, color="0.7", label="outcomes")
    axes.plot(u[frontier, 0], u[frontier, 1], "-o", color="tab:blue", markersize=3, label="Pareto frontier")
    axes.axvline(reserved[0], color="tab:red", linestyle="--", linewidth=1, label="reserved value A")
    axes.axhline(reserved[1], color="tab:purple", linestyle="--", linewidth=1, label="reserved value B")
    for name, index, marker in (
        ("Nash", analysis.nash_point(u, reserved), "*"),
        ("Kalai-Smorodinsky", analysis.kalai_point(u, reserved), "D"),
    ):
        if index is not None:
            axes.scatter([u[index, 0]], [u[index, 1]], s=120, marker=marker, zorder=3, label=name)
    axes.set(xlabel="utility of A", ylabel="utility of B", title=f"{scenario.name}, profile {profile}")
    axes.legend(loc="lower left", fontsize="small")
    try:
        figure.savefig(path, dpi=100)
    except OSError as e:
        raise ConfigurationError(f"--plot: cannot write {path} ({e.strerror})") from e
    finally:
        plt.close(figure)
