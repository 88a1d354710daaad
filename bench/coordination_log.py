"""Benchmark the coordination log's decisions (issue #12, ADR-0027): one command on a log of N waits.

Run with ``.venv/bin/python bench/coordination_log.py [--quick]``.

A coordination log is built with N waiting dependencies (a chain of tracks)
and N queued bookings, through ``decide`` and ``evolve`` as the service does.
Then each timed command is decided on that log and its events applied:

- ours: ``decide`` of a ``book_resource`` that queues (and may close a cycle),
  then ``evolve`` with its events, as the service runs a command. Since
  ADR-0053 the book keeps its calendars and wait-for graph up to date event by
  event (the decision's events are applied once to see the deadlocks they
  leave, and the fold gets that book back), where ADR-0027 rebuilt both from
  the book for every decision;
- ``--abandoned``: also times a decision whose events are never applied, on
  the same log each time: the book no longer owns the structures after the
  first, so each such decision rebuilds them from the log's history (the
  linear cost ADR-0027 paid on every decision, now only on this path);
- peer: the incremental ``WaitForGraph.add`` of ADR-0026 on a graph of the same
  waits (what keeping the graph in memory costs per event).

It prints p50 and p99 per command (wall clock, and this thread's CPU time: on a
shared machine the wall-clock tail holds the waits for a core) and the p50
ratio to the bare graph.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from backchannel.coordination import WaitForGraph, WaitKind
from backchannel.coordination.calendar import ResourceKind
from backchannel.domain import NewKey, OpenTrack, TrackState, decide, ed25519_key_id, evolve
from backchannel.domain.command_envelope import Command
from backchannel.domain.coordination.commands import (
    BookResource,
    DeclareDependency,
    DependencyKind,
    RegisterResource,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_COUNTER = iter(range(10**9))


def _key(seed: str) -> NewKey:
    ed = hashlib.sha256(b"ed/" + seed.encode()).digest()
    return NewKey(ed25519_key_id(ed), ed, hashlib.sha256(b"x/" + seed.encode()).digest(), None)


CHAIR = _key("qatar/principal")


class Envelope(TypedDict):
    """The envelope fields of a command signed by qatar's principal."""

    track: str
    member: str
    key_id: str
    issued_at: datetime
    digest: bytes


def _envelope() -> Envelope:
    digest = hashlib.sha256(str(next(_COUNTER)).encode()).digest()
    return Envelope(
        track="coord-qatar", member="qatar/principal", key_id=CHAIR.key_id, issued_at=T0, digest=digest
    )


def _run(state: TrackState | None, command: Command) -> TrackState:
    for event in decide(state, command, T0):
        state = evolve(state, event)
    assert state is not None
    return state


def build(waits: int) -> TrackState:
    """A coordination log holding ``waits`` waiting dependencies and ``waits`` queued bookings."""
    state = _run(None, OpenTrack(**_envelope(), title="coord", principal_key=CHAIR, service_key=_key("svc")))
    for i in range(waits):
        declare = DeclareDependency(
            **_envelope(), dependency_id=f"d{i}", waiter=f"t{i}", on_track=f"t{i + 1}",
            kind=DependencyKind.DEAL_COMMITTED, ref="deal",
        )  # fmt: skip
        state = _run(state, declare)
    for r in range(waits // 10 + 1):
        state = _run(
            state, RegisterResource(**_envelope(), resource_id=f"person:{r}", kind=ResourceKind.PERSON)
        )
        state = _run(state, _booking(f"h{r}", f"person:{r}", f"t{10 * r + 10}", queue=False))
    for i in range(waits):
        state = _run(
            state, _booking(f"q{i}", f"person:{i // 10}", f"t{i % 10 + 10 * (i // 10)}-meeting", queue=True)
        )
    return state


def _booking(booking_id: str, resource: str, holder: str, *, queue: bool) -> BookResource:
    return BookResource(
        **_envelope(), booking_id=booking_id, resource=resource, holder=holder, start=T0,
        end=T0 + timedelta(hours=1), priority=1, queue=queue,
    )  # fmt: skip


def time_ours(state: TrackState, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per ``decide`` and ``evolve`` of a queued booking (the log grows by one each)."""
    found, cpu = [], []
    for i in range(repeats):
        command = _booking(f"x{i}", "person:0", "t0", queue=True)  # t0 waits on t10's hold: closes no cycle
        began, cpu_began = time.perf_counter(), time.thread_time()
        state = _run(state, command)
        cpu.append(time.thread_time() - cpu_began)
        found.append(time.perf_counter() - began)
    return found, cpu


def time_abandoned(state: TrackState, repeats: int) -> list[float]:
    """Seconds per ``decide`` of a queued booking never applied (the log stays the same)."""
    found = []
    for i in range(repeats):
        command = _booking(f"y{i}", "person:0", "t0", queue=True)
        began = time.perf_counter()
        decide(state, command, T0)
        found.append(time.perf_counter() - began)
    return found


def time_peer(waits: int, repeats: int) -> list[float]:
    """Seconds per ``WaitForGraph.add`` of one more wait on a graph of the same size."""
    graph = WaitForGraph()
    for i in range(waits):
        graph.add(f"t{i}", f"t{i + 1}", "needs", kind=WaitKind.DEPENDENCY)
        graph.add(f"t{i}-meeting", f"t{10 * (i // 10) + 10}", "held", kind=WaitKind.BOOKING)
    found = []
    for i in range(repeats):
        began = time.perf_counter()
        graph.add(f"x{i}", "t10", "held", kind=WaitKind.BOOKING)
        found.append(time.perf_counter() - began)
    return found


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1e3 if len(values) > 1 else values[0] * 1e3


def main() -> None:
    """Run the sizes and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--abandoned", action="store_true", help="also time decisions never applied")
    parser.add_argument("--sizes", default="", help="comma-separated log sizes (default 10,100,1000,10000)")
    args = parser.parse_args()
    sizes = (10, 100) if args.quick else (10, 100, 1000, 10_000)
    if args.sizes:
        sizes = tuple(int(n) for n in args.sizes.split(","))
    repeats = 20 if args.quick else 200
    columns = ["ours p50 ms", "ours p99 ms", "CPU p50 ms", "CPU p99 ms", "peer p50 ms", "peer p99 ms"]
    if args.abandoned:
        columns += ["abandoned p50", "abandoned p99"]
    print(f"{'waits':>6} " + " ".join(f"{c:>13}" for c in columns) + f" {'p50 ratio':>10}")
    for waits in sizes:
        state = build(waits)
        ours, cpu = time_ours(state, repeats)
        peer = time_peer(waits, repeats)
        row = [_ms(ours, 50), _ms(ours, 99), _ms(cpu, 50), _ms(cpu, 99), _ms(peer, 50), _ms(peer, 99)]
        if args.abandoned:
            abandoned = time_abandoned(state, min(repeats, 20))
            row += [_ms(abandoned, 50), _ms(abandoned, 99)]
        print(f"{waits:>6} " + " ".join(f"{v:>13.4f}" for v in row) + f" {row[0] / max(row[4], 1e-9):>9.0f}x")


if __name__ == "__main__":
    main()
