"""Benchmark the bargaining models (issue #10): issue-model-draws per second, vectorised vs a per-issue loop.

Run with ``.venv/bin/python bench/forecast.py [--quick | --accuracy]`` (numpy is a runtime
dependency, so the main virtualenv is enough; ``make bench`` runs it too).
Figures go to stdout, progress to stderr.

Every model of ``backchannel.forecast.ensemble.MODELS`` runs on the 173 shared
DEU issues times D Monte Carlo draws (perturbed positions, saliences and
capabilities, fixed seed), as one vectorised NumPy call per chunk of draws. The
peer is a naive per-issue Python loop over the same draws, written from the same
definitions; it runs on the first few draws only, its answers are checked against
the vectorised ones before any figure is printed, and the ratio compares rates.

``--accuracy`` prints the accuracy figures instead: the DEU backtest (10-fold
cross-fit, and training on ``SHA-256(isnr) mod 3 != 0`` to test on the rest), and
the GJP pools with every alternative tried for issue #10 (ADR-0054), each scored
without its own outcome.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backchannel.forecast.dataset import load_deu
from backchannel.forecast.ensemble import MODELS
from backchannel.forecast.models import BargainingInputs, Uncertainty, perturb
from backchannel.forecast.models_eu import DEFAULT_ROUNDS

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "deu3-dev"
TARGET = 1_000_000
GOLDEN = (math.sqrt(5) - 1) / 2


# ---- the naive peer: one issue at a time, plain Python ----------------------------------------


def _wmedian(x: list[float], w: list[float]) -> float:
    pairs = sorted(zip(x, w, strict=True))
    total = sum(w)
    cum, lower, upper = 0.0, None, None
    for value, weight in pairs:
        cum += weight
        if lower is None and cum >= total / 2 - 1e-9 * total:
            lower = value
        if upper is None and cum > total / 2 + 1e-9 * total:
            upper = value
    return (lower + upper) / 2 if lower is not None and upper is not None else math.nan


def _golden(f: Callable[[float], float], a: float, b: float) -> float:
    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(48):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = f(d)
    return (a + b) / 2


def _lognash(x: list[float], w: list[float], worst: list[float]) -> Callable[[float], float]:
    def f(y: float) -> float:
        total = 0.0
        for xi, wi, di in zip(x, w, worst, strict=True):
            if wi <= 0:
                continue  # a zero-weight actor has no say
            gain = di - abs(y - xi)
            total += -math.inf if gain <= 0 else wi * math.log(gain)
        return total

    return f


def _eu_round(z: list[float], s: list[float], w: list[float]) -> list[float]:
    n = len(z)

    def prob(a: int, b: int) -> float:
        votes = [w[k] * (abs(z[k] - z[b]) - abs(z[k] - z[a])) for k in range(n)]
        total = sum(abs(v) for v in votes)
        return sum(max(v, 0.0) for v in votes) / total if total > 0 else 0.0

    p = [[prob(a, b) for b in range(n)] for a in range(n)]

    def eu(a: int, b: int, r: float) -> float:
        d = abs(z[a] - z[b])
        us, uf, uq = 2 - 4 * (0.5 - 0.5 * d) ** r, 2 - 4 * (0.5 + 0.5 * d) ** r, 2 - 4 * 0.5**r
        return s[b] * (p[a][b] * us + (1 - p[a][b]) * uf) + (1 - s[b]) * us - uq

    danger = [sum(eu(j, i, 1.0) for j in range(n) if j != i) for i in range(n)]
    hi, lo = max(danger), min(danger)
    r = [
        (1 - q / 3) / (1 + q / 3) for q in ((2 * d - hi - lo) / (hi - lo) if hi > lo else 0.0 for d in danger)
    ]
    new = list(z)
    for i in range(n):
        best = None
        for j in range(n):
            if z[i] == z[j]:
                continue
            e, f = eu(i, j, r[i]), eu(j, i, r[i])
            if f > e > 0 or (f > 0 > e and f <= -e):
                target = z[j]
            elif f > 0 > e:
                target = z[i] + (z[j] - z[i]) * abs(e / f)
            else:
                continue
            if best is None or abs(target - z[i]) < abs(best - z[i]):
                best = target
        if best is not None:
            new[i] = best
    return new


def _naive_issue(  # noqa: PLR0911, PLR0917 - one branch per model, the issue's fields by position
    name: str, x: list[float], s: list[float], c: list[float], ref: float, com: float
) -> float:
    w = [ci * si for ci, si in zip(c, s, strict=True)]
    if name == "compromise":
        return sum(wi * xi for wi, xi in zip(w, x, strict=True)) / sum(w) if sum(w) > 0 else sum(x) / len(x)
    if name == "weighted_median":
        return _wmedian(x, w)
    if name == "median_actor":
        return _wmedian(x, [1.0] * len(x))
    if name == "nash_worst":
        return _golden(_lognash(x, w, [max(v, 100 - v) for v in x]), 0.0, 100.0) if sum(w) > 0 else math.nan
    if name == "nash_reference":
        if math.isnan(ref):
            return math.nan
        worst = [abs(ref - v) for v in x]
        low = max(v - d for v, d, wi in zip(x, worst, w, strict=True) if wi > 0)
        high = min(v + d for v, d, wi in zip(x, worst, w, strict=True) if wi > 0)
        return _golden(_lognash(x, w, worst), low, high) if high - low > 1e-9 else ref
    if name == "expected_utility":
        lo, span = min(x), max(x) - min(x)
        if span <= 0:
            return _wmedian(x, w)
        z = [(v - lo) / span for v in x]
        for _ in range(DEFAULT_ROUNDS):
            z = _eu_round(z, [v / 100 for v in s], w)
        return _wmedian([lo + span * v for v in z], w)
    return {"commission": com, "reference_point": ref, "constant_50": 50.0}[name]


def naive(name: str, drawn: BargainingInputs) -> np.ndarray:
    """The peer: loop over draws and issues, one issue at a time."""
    out = np.empty(drawn.positions.shape[:-1])
    for d in range(out.shape[0]):
        for i in range(out.shape[1]):
            keep = drawn.present[d, i]
            out[d, i] = _naive_issue(
                name,
                drawn.positions[d, i][keep].tolist(),
                drawn.saliences[d, i][keep].tolist(),
                drawn.capabilities[d, i][keep].tolist(),
                float(drawn.reference[d, i]),
                float(drawn.commission[d, i]),
            )
    return out


# ---- the run ---------------------------------------------------------------------------------


def _slice(drawn: BargainingInputs, lo: int, hi: int) -> BargainingInputs:
    return BargainingInputs(
        drawn.positions[lo:hi], drawn.saliences[lo:hi], drawn.capabilities[lo:hi],
        drawn.present[lo:hi], drawn.reference[lo:hi], drawn.commission[lo:hi],
    )  # fmt: skip


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer draws (a smoke test)")
    parser.add_argument("--accuracy", action="store_true", help="the DEU and GJP accuracy figures instead")
    args = parser.parse_args(argv)
    if args.accuracy:
        from forecast_accuracy import accuracy

        accuracy(DATA.parent)
        return
    draws, naive_draws, chunk = (40, 1, 20) if args.quick else (1000, 2, 50)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    print(f"commit {commit.stdout.strip()}, numpy {np.__version__}, draws {draws}, seed 2026")
    issues = load_deu(DATA / "deu3_issues_wide.csv", DATA / "deu3_positions_long.csv")
    inputs = BargainingInputs.from_issue_set(issues)
    drawn = perturb(inputs, Uncertainty(), np.random.default_rng(2026), draws)
    n_issues = inputs.positions.shape[0]
    rows = [_measure(name, model, drawn, draws, naive_draws, chunk) for name, model in MODELS.items()]
    _report(rows, draws * n_issues, naive_draws * n_issues)


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds of one model, vectorised and naive."""

    name: str
    wall: float
    cpu: float
    naive_wall: float
    naive_cpu: float


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _measure(  # noqa: PLR0917 - the model, its draws and the run's sizes
    name: str, model: Callable[[BargainingInputs], np.ndarray], drawn: BargainingInputs,
    draws: int, naive_draws: int, chunk: int,
) -> Timing:  # fmt: skip
    print(f"  {name} ...", file=sys.stderr)
    wall, cpu = _clocks()
    fast = np.concatenate([model(_slice(drawn, lo, lo + chunk)) for lo in range(0, draws, chunk)])
    wall_end, cpu_end = _clocks()
    slow = naive(name, _slice(drawn, 0, naive_draws))
    naive_wall, naive_cpu = _clocks()
    if not np.allclose(fast[:naive_draws], slow, atol=1e-6, equal_nan=True):
        worst = np.nanmax(np.abs(fast[:naive_draws] - slow))
        raise SystemExit(f"{name}: the vectorised and naive answers differ (max {worst})")
    return Timing(name, wall_end - wall, cpu_end - cpu, naive_wall - wall_end, naive_cpu - cpu_end)


def _aggregate(rows: Sequence[Timing], work: int, attr: str) -> float:
    return len(rows) * work / sum(getattr(r, attr) for r in rows)


def _report(rows: Sequence[Timing], work: int, naive_work: int) -> None:
    print("\n| model | vectorised issue-draws/s, wall (CPU) | naive loop, wall (CPU) | ratio (CPU) |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        fast, fast_cpu = work / r.wall, work / r.cpu
        slow, slow_cpu = naive_work / r.naive_wall, naive_work / r.naive_cpu
        ratio = fast_cpu / slow_cpu
        print(f"| {r.name} | {fast:,.0f} ({fast_cpu:,.0f}) | {slow:,.0f} ({slow_cpu:,.0f}) | {ratio:,.1f}x |")
    for label, chosen in (
        ("all models", rows),
        ("all but expected_utility", [r for r in rows if r.name != "expected_utility"]),
    ):
        wall, cpu = _aggregate(chosen, work, "wall"), _aggregate(chosen, work, "cpu")
        naive_cpu = _aggregate(chosen, naive_work, "naive_cpu")
        verdict = "met" if cpu >= TARGET else "missed"
        print(
            f"\n{label} ({len(chosen)}): {wall:,.0f} issue-model-draws/s wall, {cpu:,.0f} CPU "
            f"({sum(r.wall for r in chosen):.1f} s wall); naive {naive_cpu:,.0f} CPU, "
            f"ratio {cpu / naive_cpu:,.1f}x; target >= {TARGET:,}: {verdict} (CPU)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
