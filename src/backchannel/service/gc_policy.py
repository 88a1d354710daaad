"""The server process's garbage-collector thresholds (issue #13 round 2, ADR-0049 amendment).

A node keeps every track's state in memory, so its heap grows with the log;
with CPython's default thresholds (700, 10, 10) each full collection walks all
of it, and in process a full collection came about every 900 messages: 25 to
40 % of the server's CPU in ``bench/batch.py`` at 8,000 messages. Raising the
first threshold makes young collections rarer and, through them, full ones:
cyclic garbage is still collected, later. Reference counting, which frees
almost everything the service allocates, is unaffected.

The thresholds are process-wide, so :func:`tune_gc` is called by the process
that is the server (``backchannel serve``) and by the in-process benchmarks,
never by :func:`backchannel.node.open_node`: a test or an embedding
application that opens a node keeps its own collector settings.
"""

from __future__ import annotations

import gc

__all__ = ["SERVER_GC_THRESHOLDS", "tune_gc"]

SERVER_GC_THRESHOLDS = (50_000, 20, 100)
"""Young-generation allocations, then collections of each older generation, before the next one."""


def tune_gc() -> tuple[int, int, int]:
    """Set :data:`SERVER_GC_THRESHOLDS` if the current ones are lower; return the ones before.

    A process that chose higher thresholds (or disabled collection) keeps its choice.
    """
    before = gc.get_threshold()
    if before[0] and before[0] < SERVER_GC_THRESHOLDS[0]:
        gc.set_threshold(*SERVER_GC_THRESHOLDS)
    return before
