"""``backchannel forecast``: backtest the bargaining models and pool probability forecasts (issue #10).

- ``forecast backtest --issues FILE --positions FILE [--train-issues FILE
  --train-positions FILE] [--json]`` scores every model and the ensemble's
  headline on DEU-format files (ADR-0037, ADR-0038).
- ``forecast pool --forecasts FILE --questions FILE [--json] [--plot PNG]``
  pools GJP-format forecasts (linear, log-odds, extremized) and scores them
  (ADR-0039).

Errors end as a diagnostic panel and exit status 1. This module holds no model
logic; it parses options, calls :mod:`backchannel.forecast` and renders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from backchannel.cli.render import diagnostic
from backchannel.errors import BackchannelError, ConfigurationError
from backchannel.forecast.backtest import BacktestReport, run_backtest
from backchannel.forecast.dataset import load_deu, load_gjp_forecasts, load_gjp_questions
from backchannel.forecast.models import Uncertainty
from backchannel.forecast.pooling import PROBABILITY_THRESHOLD, PoolReport, evaluate_pools
from backchannel.forecast.reliability import write_reliability_png

__all__ = ["forecast_app"]

forecast_app = typer.Typer(
    help="Forecasting: backtest bargaining models on DEU issues, pool GJP probabilities.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)
T = TypeVar("T")

_File = Annotated[Path, typer.Option(help="A CSV file.", dir_okay=False)]


def _run(action: Callable[[], T]) -> T:
    """Run a command body; our errors become a diagnostic and exit status 1."""
    try:
        return action()
    except BackchannelError as error:
        _err.print(diagnostic(error))
        raise typer.Exit(1) from None


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def _headline_coverage(report: BacktestReport, name: str) -> str:
    if name != "ensemble":
        return "-"
    return f"{report.interval_coverage:.0%}*"


def _backtest_tables(report: BacktestReport) -> tuple[Table, Table]:
    """Accuracy (with bootstrap intervals), then flags and Monte Carlo intervals."""
    rows = [*report.models.items(), ("ensemble", report.ensemble)]
    accuracy = Table(title=f"Backtest: accuracy (ensemble headline: {report.training})")
    accuracy.add_column("forecaster", no_wrap=True)
    accuracy.caption = "vs comp.: MAE minus the compromise model's, paired bootstrap"
    for column in ("n", "MAE", "95% CI", "vs comp. (95% CI)"):
        accuracy.add_column(column, justify="right", no_wrap=True)
    for name, s in rows:
        accuracy.add_row(
            name,
            str(s.n),
            f"{s.mae:.1f}",
            f"{s.mae_ci95[0]:.1f}-{s.mae_ci95[1]:.1f}",
            f"{s.diff_vs_compromise:+.1f} ({s.diff_ci95[0]:+.1f}, {s.diff_ci95[1]:+.1f})",
        )
    flags = Table(
        title=f"Errors, 'models disagree' (spread > {report.threshold:g}) and Monte Carlo intervals"
    )
    flags.add_column("forecaster", no_wrap=True)
    flags.caption = "MAE on issues flagged / not flagged; MC: Monte Carlo interval's coverage and width"
    for column in ("RMSE", "MedAE", "flagged", "unflagged", "MC cover", "MC width"):
        flags.add_column(column, justify="right", no_wrap=True)
    for name, s in rows:
        check = report.intervals.get(name)
        flags.add_row(
            name,
            f"{s.rmse:.1f}",
            f"{s.median_ae:.1f}",
            f"{_fmt(s.mae_flagged)}",
            f"{_fmt(s.mae_unflagged)}",
            f"{check.coverage:.0%}" if check else _headline_coverage(report, name),
            f"{check.mean_width:.1f}" if check else "-",
        )
    return accuracy, flags


@forecast_app.command("backtest")
def backtest(
    issues: Annotated[Path, typer.Option("--issues", help="DEU-format issues file (wide).", dir_okay=False)],
    positions: Annotated[
        Path, typer.Option("--positions", help="DEU-format positions file (long).", dir_okay=False)
    ],
    train_issues: Annotated[
        Path | None,
        typer.Option("--train-issues", help="Training issues: the ensemble is fitted on these only."),
    ] = None,
    train_positions: Annotated[
        Path | None, typer.Option("--train-positions", help="Training positions (with --train-issues).")
    ] = None,
    capabilities: Annotated[
        str, typer.Option("--capabilities", help="'equal' (default) or 'votes' (EU-15 Council votes).")
    ] = "equal",
    draws: Annotated[
        int,
        typer.Option(
            "--draws", min=0, help="Monte Carlo draws per issue for each model's interval (0: none)."
        ),
    ] = 50,
    position_sd: Annotated[
        float, typer.Option("--position-sd", min=0, help="Monte Carlo: normal noise on positions (points).")
    ] = 10.0,
    salience_sd: Annotated[
        float, typer.Option("--salience-sd", min=0, help="Monte Carlo: normal noise on saliences (points).")
    ] = 10.0,
    capability_sigma: Annotated[
        float,
        typer.Option("--capability-sigma", min=0, help="Monte Carlo: log-normal sigma on capabilities."),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the bootstrap and Monte Carlo generator.")
    ] = 20260601,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Score every model and the ensemble's headline on DEU-format issues with known outcomes."""

    def body() -> None:
        if (train_issues is None) != (train_positions is None):
            raise ConfigurationError("--train-issues and --train-positions: give both or neither")
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=_err,
            transient=True,
        ) as bar:
            bar.add_task("loading, running the models and bootstrapping", total=None)
            test = load_deu(issues, positions)
            train = load_deu(train_issues, train_positions) if train_issues and train_positions else None
            uncertainty = Uncertainty(position_sd, salience_sd, capability_sigma)
            rng = np.random.default_rng(seed)
            report = run_backtest(
                test, rng, train=train, capabilities=capabilities, draws=draws, uncertainty=uncertainty
            )
        if as_json:
            document = {**report.to_dict(), "seed": seed, "capabilities": capabilities, "draws": draws}
            print(json.dumps(document, indent=2, allow_nan=False, default=_no_nan))
            return
        for table in _backtest_tables(report):
            _out.print(table)
        base = ", ".join(n for n, w in report.weights.items() if w > 0.005)
        tolerance = ", ".join(f"{t:.1f}" for t in sorted(set(report.tolerances)))
        _out.print(
            f"flagged 'models disagree': {report.flagged_share:.0%} of issues; headline: {base} snapped "
            f"to a focal point within {tolerance} ({report.training}); "
            f"stacking MAE beside it: {report.stacking.mae:.2f}; "
            f"*the headline's {report.interval_level:.0%} residual interval covered "
            f"{report.interval_coverage:.0%}; Monte Carlo: {draws} draws; seed {seed}"
        )

    _run(body)


def _no_nan(value: object) -> object:  # pragma: no cover - json calls this only for unknown types
    raise TypeError(f"not JSON-serialisable: {value!r}")


def _pool_table(report: PoolReport) -> Table:
    table = Table(title=f"Pooling on {len(report.questions)} resolved questions ({report.binary} yes/no)")
    for column in ("pool", "Brier (GJP, 0-2)", "log score"):
        table.add_column(column, justify="left" if column == "pool" else "right")
    for name, value in report.brier.items():
        table.add_row(name, f"{value:.4f}", f"{report.log_score[name]:.4f}")
    return table


@forecast_app.command("pool")
def pool(
    forecasts: Annotated[
        Path, typer.Option("--forecasts", help="GJP-format forecasts file.", dir_okay=False)
    ],
    questions: Annotated[
        Path, typer.Option("--questions", help="GJP-format questions file.", dir_okay=False)
    ],
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a reliability diagram (PNG) here.")
    ] = None,
    bins: Annotated[int, typer.Option("--bins", min=1, max=50, help="Probability bins of the diagram.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Pool forecasters' probabilities (linear, log-odds, extremized) and score them by Brier and log score.

    The extremizing exponent is fitted leave-one-question-out: no question's pooled
    forecast uses its own outcome. ``extremized_in_sample`` is shown for comparison only.
    """

    def body() -> None:
        asked = load_gjp_questions(questions)
        report = evaluate_pools(asked, load_gjp_forecasts(forecasts, asked))
        written = write_reliability_png(report.pooled, report.outcomes, plot, bins=bins) if plot else None
        if as_json:
            document = {**report.to_dict(), "plot": str(written) if written else None}
            print(json.dumps(document, indent=2, allow_nan=False))
            return
        _out.print(_pool_table(report))
        _out.print(
            f"extremizing exponent: {min(report.extremizing):.2f}-{max(report.extremizing):.2f} "
            f"leave-one-question-out; {report.extremizing_all:.2f} on all questions"
        )
        flagged = [
            q for q, gap in zip(report.questions, report.spread, strict=True) if gap > PROBABILITY_THRESHOLD
        ]
        _out.print(f"'models disagree' (pools > 40 points apart): {', '.join(flagged) or 'none'}")
        if written:
            _out.print(f"reliability diagram: {written}")

    _run(body)
