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
from backchannel.forecast.pooling import PoolReport, evaluate_pools
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
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _backtest_table(report: BacktestReport) -> Table:
    table = Table(title=f"Backtest (headline: {report.training}; flag: spread > {report.threshold:g} points)")
    for column in ("forecaster", "n", "MAE", "95% CI", "Δ vs compromise [95% CI]", "RMSE", "MedAE"):
        table.add_column(column, justify="left" if column == "forecaster" else "right")
    table.add_column("MAE flagged / unflagged", justify="right")
    rows = [*report.models.items(), ("ensemble (headline)", report.ensemble)]
    for name, s in rows:
        table.add_row(
            name,
            str(s.n),
            _fmt(s.mae),
            f"{_fmt(s.mae_ci95[0])}-{_fmt(s.mae_ci95[1])}",
            f"{s.diff_vs_compromise:+.2f} [{s.diff_ci95[0]:+.2f}, {s.diff_ci95[1]:+.2f}]",
            _fmt(s.rmse),
            _fmt(s.median_ae),
            f"{_fmt(s.mae_flagged)} / {_fmt(s.mae_unflagged)}",
        )
    return table


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
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap's random generator.")] = 20260601,
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
            report = run_backtest(test, np.random.default_rng(seed), train=train, capabilities=capabilities)
        if as_json:
            document = {**report.to_dict(), "seed": seed, "capabilities": capabilities}
            print(json.dumps(document, indent=2, allow_nan=False, default=_no_nan))
            return
        _out.print(_backtest_table(report))
        weights = ", ".join(f"{n} {w:.2f}" for n, w in report.weights.items() if w > 0.005)
        _out.print(
            f"flagged 'models disagree': {report.flagged_share:.0%} of issues; headline weights: {weights}; "
            f"{report.interval_level:.0%} interval covered {report.interval_coverage:.0%}; seed {seed}"
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Pool forecasters' probabilities (linear, log-odds, extremized) and score them by Brier and log score.

    The extremizing exponent is fitted leave-one-question-out: no question's pooled
    forecast uses its own outcome. ``extremized_in_sample`` is shown for comparison only.
    """

    def body() -> None:
        asked = load_gjp_questions(questions)
        report = evaluate_pools(asked, load_gjp_forecasts(forecasts, asked))
        written = write_reliability_png(report.pooled, report.outcomes, plot) if plot else None
        if as_json:
            document = {**report.to_dict(), "plot": str(written) if written else None}
            print(json.dumps(document, indent=2, allow_nan=False))
            return
        _out.print(_pool_table(report))
        _out.print(
            f"extremizing exponent: {min(report.extremizing):.2f}-{max(report.extremizing):.2f} "
            f"leave-one-question-out; {report.extremizing_all:.2f} on all questions"
        )
        if written:
            _out.print(f"reliability diagram: {written}")

    _run(body)
