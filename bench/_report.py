"""Shared reporting for the benchmarks: targets, summary rows and the summary table.

Each benchmark prints its figures as it measures them and collects one
:class:`Row` per headline figure in a :class:`Report`; :func:`print_summary`
prints the table with PASS/FAIL against each :class:`Target`.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABEL_WIDTH = 60
VALUE_WIDTH = 14


def progress(message: str) -> None:
    """Say what is happening, on stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def figure(label: str, value: str) -> None:
    """Print one aligned figure."""
    print(f"  {label:<{LABEL_WIDTH}} {value:>{VALUE_WIDTH}}", flush=True)


def note(text: str) -> None:
    """Print an indented remark under a section."""
    print(f"  ({text})", flush=True)


def count(value: float) -> str:
    """Format a count or rate with thousands separators."""
    return f"{value:,.0f}"


def heading(text: str) -> None:
    """Print a section heading."""
    print(f"\n{text}", flush=True)


@dataclass(frozen=True, slots=True)
class Target:
    """A pass/fail threshold: ``value op limit``."""

    op: str  # ">=", "<=" or "<"
    limit: float
    text: str

    def passes(self, value: float) -> bool:
        """Whether ``value`` meets the target."""
        if self.op == ">=":
            return value >= self.limit
        return value <= self.limit if self.op == "<=" else value < self.limit


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary table."""

    metric: str
    ours: str
    peer: str = "n/a"
    ratio: str = "-"
    target: Target | None = None
    value: float = 0.0


@dataclass(slots=True)
class Report:
    """Collects the summary rows while the sections print their figures."""

    rows: list[Row] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    lead_rows: int = 0

    def add(self, row: Row) -> None:
        """Record a summary row."""
        self.rows.append(row)

    def lead(self, row: Row) -> None:
        """Record a row that goes before the others (the comparison rows, measured last)."""
        self.rows.insert(self.lead_rows, row)
        self.lead_rows += 1


def verdict(row: Row) -> str:
    """PASS, FAIL or ``-`` (no target)."""
    if row.target is None:
        return "-"
    return "PASS" if row.target.passes(row.value) else "FAIL"


def print_summary(report: Report, title: str) -> None:
    """Print the summary table of ``report`` under ``title``, then the misses and total time."""
    heading(title)
    header = ("metric", "ours", "peer", "ratio", "target", "result")
    rows = [header] + [
        (r.metric, r.ours, r.peer, r.ratio, r.target.text if r.target else "-", verdict(r))
        for r in report.rows
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  " + " | ".join(cells))
        if number == 0:
            print("  " + "-+-".join("-" * width for width in widths))
    failed = sum(verdict(r) == "FAIL" for r in report.rows)
    print(
        f"\n  targets missed: {failed}; total time {time.perf_counter() - report.started:,.0f} s", flush=True
    )


def git(*args: str) -> str:
    """The output of a git command in the repository, or ``""``."""
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def print_context(benchmark: str, scale_name: str) -> None:
    """Where and what this run measured: version, commit, Python, platform, CPUs, start time."""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "src"):
        commit += " + uncommitted changes in src/"
    print(f"backchannel {importlib.metadata.version('backchannel')} {benchmark}, {scale_name} run")
    print(f"  commit {commit}; Python {platform.python_version()}; {platform.platform()}")
    print(f"  CPUs {len(os.sched_getaffinity(0))}; started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
