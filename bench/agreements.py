"""Benchmark agreements and compliance (issue #4): 2PC rounds, compliance replay, escrow checks.

Run with ``.venv-bench/bin/python bench/agreements.py [--quick]`` (``make bench``
builds ``.venv-bench``). Figures go to stdout as plain text, progress to stderr.

Sections (each also runs alone: ``python bench/_deals.py`` and so on):

1. ``_deals``: complete two-phase-commit rounds per second through a real
   ``backchannel serve`` (3 principals: prepare, three YES votes, committed).
2. ``_compliance``: 1,000,000 attestations replayed through one obligation's
   token bucket and escalation ladder, vectorised and per event, side by side
   (target >= 500,000 attestations/s).
3. ``_escrow``: escrow condition checks per second (3 signers, 2 predicates
   over 30-day windows).
4. A summary table with the issue's targets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import _compliance
import _deals
import _escrow
from _report import Report, Row, heading, print_context, print_summary, progress

SECTIONS: tuple[tuple[str, Callable[[bool], list[Row]]], ...] = (
    ("[1] Two-phase commit rounds through the HTTP service", _deals.run),
    ("[2] Compliance: obligations replaying attestations", _compliance.run),
    ("[3] Escrow condition checks", _escrow.run),
)


def main(argv: Sequence[str]) -> None:
    """Run every section, then the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args(argv)
    print_context("agreements benchmark", "quick" if args.quick else "full")
    report = Report()
    for title, section in SECTIONS:
        heading(title)
        progress(title)
        for row in section(args.quick):
            report.add(row)
    print_summary(report, "[4] Summary")


if __name__ == "__main__":
    main(sys.argv[1:])
