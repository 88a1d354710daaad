"""Benchmark feed fusion (issue #10): the UCDP CAR file replayed 100 times, against a naive dict dedup.

Run with ``.venv-bench/bin/python bench/feeds.py [--quick]`` (``make bench``
builds ``.venv-bench``; the plain ``.venv`` works too). Figures go to stdout.

The input is UCDP GED 23.1 for the Central African Republic
(``../shared/data/ucdp/ucdp_ged231_car.csv``, 1,848 events) replayed 100
times as if 100 outlets re-reported every event (source ``replay-K``; 184,800
reports), in an order shuffled by a seeded ``numpy.random.Generator``.

1. ``backchannel.forecast.fusion.fuse``: digests, precision-aware matching
   with tolerances, the same-source rule, provenance and contradictions.
   Reports per CPU second (wall time is printed too: the machine is shared),
   and the peak of Python allocations (tracemalloc, in a
   second run) and the process's peak RSS (``getrusage``).
2. The naive peer: a plain-Python dict keyed on (actors, start day, lat and
   lon rounded to 0.01 degree) that keeps the first report per key; no
   tolerance, no precision, no provenance beyond a count, order-dependent.
3. Appending the same reports to the SQLite feed store (digests, hash chain,
   one transaction) and auditing it.

backchannel must find the 1,848 UCDP events (asserted); the naive peer merges
distinct events that share its key. The ratio printed is backchannel / naive.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from backchannel.forecast.events import EventReport
from backchannel.forecast.feeds import read_feed
from backchannel.forecast.fusion import fuse
from backchannel.forecast.store import SQLiteFeedStore

UCDP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ucdp" / "ucdp_ged231_car.csv"
SEED = 20261206


def replayed(times: int) -> list[EventReport]:
    """The UCDP file ``times`` over, one source per replay, freshly built (no cached digests), shuffled."""
    base = read_feed(UCDP, "ucdp").reports
    reports = [dataclasses.replace(r, source=f"replay-{k}") for k in range(times) for r in base]
    order = np.random.default_rng(SEED).permutation(len(reports))
    return [reports[i] for i in order]


def naive_dedup(reports: Sequence[EventReport]) -> dict[tuple[object, ...], tuple[EventReport, int]]:
    """The peer: first report per exact key wins; later ones only bump a count."""
    seen: dict[tuple[object, ...], tuple[EventReport, int]] = {}
    for r in reports:
        key = (
            r.actor_key,
            r.time.start.date(),
            round(r.location.latitude, 2),
            round(r.location.longitude, 2),
        )
        first, count = seen.get(key, (r, 0))
        seen[key] = (first, count + 1)
    return seen


def timed(label: str, action: object) -> tuple[float, object]:
    """Run ``action``; print wall and CPU seconds; return the CPU seconds (the machine is shared)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = action()  # type: ignore[operator]
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    print(f"  {label:<46} {elapsed:8.2f} s wall {used:8.2f} s CPU", flush=True)
    return used, result


def peak_python_mib(action: object) -> float:
    tracemalloc.start()
    action()  # type: ignore[operator]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 replays instead of 100")
    args = parser.parse_args(argv)
    times = 10 if args.quick else 100
    print(f"feeds benchmark: commit {commit()}, Python {platform.python_version()}, {platform.machine()}")
    print(f"input: {UCDP.name} x {times} replays (seed {SEED})")

    reports = replayed(times)
    n = len(reports)
    print(f"\n[1] backchannel fuse() on {n:,} reports")
    fuse_s, result = timed("fuse (digests + matching + provenance)", lambda: fuse(reports))
    assert result.events.__len__() == 1848, len(result.events)  # type: ignore[attr-defined]
    contradicted = len(result.contradicted)  # type: ignore[attr-defined]
    print(f"  events {len(result.events):,}, contradicted {contradicted}")  # type: ignore[attr-defined]
    fresh = replayed(times)
    fuse_peak = peak_python_mib(lambda: fuse(fresh))

    print(f"\n[2] naive dict dedup on {n:,} reports")
    naive_s, seen = timed("dict keyed on (actors, day, lat, lon)", lambda: naive_dedup(reports))
    print(f"  events {len(seen):,} (distinct UCDP events with one key are merged: no same-source rule)")  # type: ignore[arg-type]
    naive_peak = peak_python_mib(lambda: naive_dedup(reports))

    print(f"\n[3] SQLite feed store: append {n:,} reports, then audit")
    with tempfile.TemporaryDirectory() as folder, SQLiteFeedStore(Path(folder) / "feeds.db") as store:
        fresh = replayed(times)
        append_s, appended = timed("append (one transaction)", lambda: store.append(fresh, datetime.now(UTC)))
        audit_s, audit = timed("audit (digests + chain)", store.check)
        assert audit
        print(f"  stored {appended.size:,}")  # type: ignore[attr-defined]

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\nsummary")
    print(f"  {'':<28}{'reports/CPU-s':>14}{'peak MiB (py)':>16}")
    print(f"  {'backchannel fuse':<28}{n / fuse_s:>14,.0f}{fuse_peak:>16.1f}")
    print(f"  {'naive dict dedup':<28}{n / naive_s:>14,.0f}{naive_peak:>16.1f}")
    print(f"  {'ratio backchannel/naive':<28}{(n / fuse_s) / (n / naive_s):>14.3f}")
    print(f"  {'SQLite append':<28}{n / append_s:>14,.0f}")
    print(f"  {'SQLite audit':<28}{n / audit_s:>14,.0f}")
    print(f"  process peak RSS {rss:,.0f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
