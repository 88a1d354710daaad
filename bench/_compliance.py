"""Compliance evaluation throughput: replay 1,000,000 attestations through the obligation logic.

Run alone with ``python bench/_compliance.py [--quick]``, or as a section of
``bench/agreements.py`` (``run(quick) -> list[Row]``). Figures go to stdout,
progress to stderr.

The obligation is the demo's: ``iran`` may consume 5 kg per 7 days, with a
burst of 20 kg, on the ladder ``none -> sanctions-tier-1 -> -2 -> -3``; hold 14
days, recovery at 50 % of the burst. The stream is 1,000,000 consumption
records (100,000 with ``--quick``) spread over two years (about a minute
apart), each drawing half the sustained rate on average. About every 250,000
records comes a 30 kg burst, which overdraws the bucket and climbs the
ladder; consumption while in debt overdraws too, until the refill repays
the debt, and the hold then steps the level back down. The RNG is seeded, so every run
replays the same stream.

Two paths over the same stream:

- **vectorised**: :func:`~backchannel.domain.agreements.obligations_vec.replay_consumption`
  on NumPy arrays (cumsum + running minimum for the bucket, one loop step per
  ladder event), exact int64 arithmetic;
- **per event**: :func:`~backchannel.domain.agreements.obligations.meter`, the
  pure engine the track domain calls for each record, in a plain loop.

Both must give the same levels, tokens, overdraws and ladder steps; the run
checks this before it reports anything. Times cover the metering only, not
building the stream. The vectorised time is the best of three runs. The
per-event time is one run: it is the slow path, measured for the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from _report import Report, Row, Target, count, figure, heading, note, print_context, print_summary, progress
from backchannel.domain.agreements.obligations import MICRO, ObligationSpec, meter, start
from backchannel.domain.agreements.obligations_vec import VectorReplay, replay_consumption

FULL = 1_000_000
QUICK = 100_000
TARGET = 500_000.0
DAY = 86_400
SPEC = ObligationSpec(
    obligation="iran-enrichment",
    party="iran",
    metric="enriched_kg",
    unit="kg",
    rate=5 * MICRO,
    burst=20 * MICRO,
    period_seconds=7 * DAY,
    ladder=("none", "sanctions-tier-1", "sanctions-tier-2", "sanctions-tier-3"),
    hold_seconds=14 * DAY,
    recovery_pct=50,
)
START = 1_798_761_600 * MICRO  # 2027-01-01T00:00:00Z, in µs


def stream(n: int, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``n`` records (observed µs, micro-units): half the sustained rate, a 30 kg burst every ~250,000."""
    rng = np.random.default_rng(seed)
    span = 2 * 365 * DAY * MICRO
    gap = span // n
    times = START + np.cumsum(rng.integers(0, 2 * gap, n, dtype=np.int64))
    allowance = SPEC.rate * gap // (SPEC.period_seconds * MICRO)  # the sustained rate, per record
    amounts = rng.integers(0, allowance + 1, n, dtype=np.int64)  # half the rate, on average
    bursts = rng.choice(n, max(1, n // 250_000), replace=False)
    amounts[bursts] = 30 * MICRO
    return times, amounts


def per_event(times: Sequence[int], amounts: Sequence[int]) -> tuple[list[int], list[int], list[bool], int]:
    """The pure engine, one record at a time: levels, tokens, overdraw flags, the number of ladder steps."""
    bucket = start(SPEC, START)
    levels: list[int] = []
    tokens: list[int] = []
    overdraws: list[bool] = []
    steps = 0
    for observed, amount in zip(times, amounts, strict=True):
        bucket, downs, metered = meter(SPEC, bucket, observed, amount)
        steps += len(downs) + (metered.level > metered.from_level)
        levels.append(metered.level)
        tokens.append(metered.tokens)
        overdraws.append(metered.overdraw > 0)
    return levels, tokens, overdraws, steps


def _best_of(runs: int, n: int, times: np.ndarray, amounts: np.ndarray) -> tuple[float, VectorReplay]:
    best, result = float("inf"), None
    for _ in range(runs):
        began = time.perf_counter()
        result = replay_consumption(SPEC, times, amounts, start=START)
        best = min(best, time.perf_counter() - began)
    assert result is not None
    return n / best, result


def run(quick: bool) -> list[Row]:
    """Measure both paths on the same stream; return the summary rows."""
    n = QUICK if quick else FULL
    heading(f"Compliance evaluation: {n:,} attestations through one obligation")
    progress(f"building a stream of {n:,} records")
    times, amounts = stream(n)
    progress("vectorised replay (best of 3)")
    vector_rate, replay = _best_of(3, n, times, amounts)
    progress("per-event engine (one run)")
    as_times, as_amounts = times.tolist(), amounts.tolist()
    began = time.perf_counter()
    levels, tokens, overdraws, steps = per_event(as_times, as_amounts)
    event_rate = n / (time.perf_counter() - began)
    agree = (
        replay.levels.tolist() == levels
        and [int(t) for t in replay.tokens] == tokens
        and replay.overdraw.tolist() == overdraws
        and len(replay.steps) == steps
    )
    if not agree:
        raise SystemExit("the vectorised replay and the per-event engine disagree: not reporting")
    figure("attestations / s, vectorised (replay_consumption)", count(vector_rate))
    figure("attestations / s, per event (meter)", count(event_rate))
    figure("ratio vectorised / per event", f"{vector_rate / event_rate:,.1f}x")
    figure("overdraws, ladder steps, final level", f"{sum(overdraws):,}, {steps}, {levels[-1]}")
    note(f"arithmetic {replay.dtype}, exact; both paths gave identical levels, tokens, overdraws and steps")
    ratio = f"{vector_rate / event_rate:,.1f}x"
    return [
        Row(
            f"compliance: attestations / s replaying {n:,} (vectorised vs per event)",
            count(vector_rate),
            count(event_rate),
            ratio,
            Target(">=", TARGET, ">= 500,000"),
            vector_rate,
        )
    ]


def main(argv: Sequence[str]) -> None:
    """Run the section alone and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} attestations instead of {FULL:,}")
    args = parser.parse_args(argv)
    print_context("compliance benchmark", "quick" if args.quick else "full")
    report = Report()
    for row in run(args.quick):
        report.add(row)
    print_summary(report, "Summary")


if __name__ == "__main__":
    main(sys.argv[1:])
