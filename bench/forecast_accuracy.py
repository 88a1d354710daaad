"""Accuracy figures for issue #10 (``bench/forecast.py --accuracy``): the DEU backtest and the GJP pools.

Every figure is out of sample. DEU: the ensemble's headline (ADR-0054) and the
convex stacking (ADR-0038) are learned by 10-fold cross-fit, or on the training
split alone. GJP: each alternative pool is scored on each question without that
question's outcome; "prequential" fits use only questions that closed earlier.
The in-sample extremized pool is printed last, labelled, as the bound that
honest fitting gives up.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from backchannel.forecast.backtest import run_backtest
from backchannel.forecast.dataset import load_deu, load_gjp_forecasts, load_gjp_questions
from backchannel.forecast.ensemble import fold_of
from backchannel.forecast.pooling import (
    EXTREMIZING_GRID,
    brier,
    collect_judgements,
    evaluate_pools,
    log_score,
    pool_logodds,
)

Rows = dict[str, np.ndarray]


def deu(data: Path) -> None:
    issues = load_deu(
        data / "deu3-dev" / "deu3_issues_wide.csv", data / "deu3-dev" / "deu3_positions_long.csv"
    )
    split = fold_of(issues.issue_ids, 3)
    runs = {
        "10-fold cross-fit, all issues": run_backtest(issues, np.random.default_rng(2026)),
        "train mod 3 != 0, test mod 3 == 0": run_backtest(
            issues.select(split == 0), np.random.default_rng(2026), train=issues.select(split != 0)
        ),
    }
    print("| DEU setting | n | compromise MAE | headline MAE (diff, 95% CI) | stacking MAE | tau | cover |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, r in runs.items():
        e, lo_hi, base = r.ensemble, r.ensemble.diff_ci95, r.models["compromise"].mae
        print(
            f"| {label} | {e.n} | {base:.2f} | {e.mae:.2f} ({e.diff_vs_compromise:+.2f}, "
            f"{lo_hi[0]:+.2f} to {lo_hi[1]:+.2f}) | {r.stacking.mae:.2f} | "
            f"{', '.join(sorted({f'{t:g}' for t in r.tolerances}))} | {r.interval_coverage:.0%} |"
        )


def _pool(rows: np.ndarray, weights: np.ndarray | None = None, a: float = 1.0) -> np.ndarray:
    logs = np.log(np.clip(rows, 0.01, 0.99))
    w = np.ones(len(rows)) if weights is None else weights
    mean = (w[:, None] * logs).sum(axis=0) / w.sum() * a
    e = np.exp(mean - mean.max())
    return e / e.sum()


def _fit(
    rows: Rows, outcome: dict[str, int], on: Sequence[str], loss: Callable[[np.ndarray, int], float]
) -> float:
    if not on:
        return 1.0
    losses = [np.mean([loss(pool_logodds(rows[q], a), outcome[q]) for q in on]) for a in EXTREMIZING_GRID]
    return float(EXTREMIZING_GRID[int(np.argmin(losses))])


def gjp(data: Path) -> None:
    questions = load_gjp_questions(data / "gjp" / "gjp_y1_questions.csv")
    forecasts = load_gjp_forecasts(data / "gjp" / "gjp_y1_survey_sample.csv", questions)
    with (data / "gjp" / "gjp_y1_questions.csv").open(newline="") as handle:
        closed = {
            r["ifp_id"]: dt.datetime.strptime(r["date_closed"], "%m/%d/%y").replace(tzinfo=dt.UTC)
            for r in csv.DictReader(handle)
        }
    rows = {
        q: v for q, v in collect_judgements(questions, forecasts).items() if questions[q].outcome is not None
    }
    outcome = {q: questions[q].options.index(str(questions[q].outcome)) for q in rows}
    qs = list(rows)
    order: dict[str, dict[str, int]] = {}  # each question's forecasters, in collect_judgements' row order
    for f in forecasts:
        order.setdefault(f.ifp_id, {}).setdefault(f.user_id, len(order[f.ifp_id]))
    report = evaluate_pools(questions, forecasts)
    results: dict[str, list[float]] = {
        "linear mean": list(report.per_question_brier["linear"]),
        "log-odds mean (a = 1)": list(report.per_question_brier["logodds"]),
        "extremized, a fitted leave-one-question-out on Brier": list(report.per_question_brier["extremized"]),
    }
    for label, loss in (("log score", log_score), ("Brier", brier)):
        results[f"extremized, a fitted leave-one-question-out on {label}"] = [
            brier(pool_logodds(rows[q], _fit(rows, outcome, [p for p in qs if p != q], loss)), outcome[q])
            for q in qs
        ]
        results[f"extremized, a fitted prequentially (questions closed earlier) on {label}"] = [
            brier(
                pool_logodds(rows[q], _fit(rows, outcome, [p for p in qs if closed[p] < closed[q]], loss)),
                outcome[q],
            )
            for q in qs
        ]
    for trim in (0.05, 0.1, 0.2):
        results[f"log-odds mean trimmed {trim:.0%} each side"] = [
            brier(_trimmed(rows[q], trim), outcome[q]) for q in qs
        ]
    for lam in (1.0, 4.0):
        results[f"log-odds, skill weights exp(-{lam:g} (Brier - median)) from earlier questions"] = [
            brier(_pool(rows[q], _skill(q, rows, order, outcome, closed, lam)), outcome[q]) for q in qs
        ]
    print("\n| GJP pool (18 resolved questions) | Brier |")
    print("| --- | --- |")
    for label, values in results.items():
        print(f"| {label} | {np.mean(values):.4f} |")
    in_sample = report.brier["extremized_in_sample"]
    print(f"| in-sample extremized, a = {report.extremizing_all:g} (NOT honest) | {in_sample:.4f} |")


def _trimmed(rows: np.ndarray, trim: float) -> np.ndarray:
    logs = np.sort(np.log(np.clip(rows, 0.01, 0.99)), axis=0)
    k = int(len(rows) * trim)
    mean = logs[k : len(rows) - k].mean(axis=0)
    e = np.exp(mean - mean.max())
    return e / e.sum()


def _skill(  # noqa: PLR0917 - the question, the data and the weight's steepness
    q: str, rows: Rows, order: dict[str, dict[str, int]], outcome: dict[str, int], closed: dict, lam: float
) -> np.ndarray:
    """A weight per forecaster of ``q`` from their Brier on questions that closed before ``q`` only."""
    past = [p for p in outcome if closed[p] < closed[q]]
    scores = []
    for user in order[q]:
        hist = [brier(rows[p][order[p][user]], outcome[p]) for p in past if user in order[p]]
        scores.append(float(np.mean(hist)) if hist else np.nan)
    known = [s for s in scores if not np.isnan(s)]
    median = float(np.median(known)) if known else 0.0
    return np.array([np.exp(-lam * ((median if np.isnan(s) else s) - median)) for s in scores])


def accuracy(data: Path) -> None:
    deu(data)
    gjp(data)
