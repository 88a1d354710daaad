"""Serialising appends per track on PostgreSQL: advisory lock versus SERIALIZABLE (ADR-0055).

Two ways to keep one track's appends in order while other tracks commit in parallel:

- ``advisory``: READ COMMITTED, ``pg_advisory_xact_lock`` on the track (what the store does);
- ``serializable``: SERIALIZABLE transactions without the lock; the loser of a race gets a
  serialization failure (or a unique violation), which the store reports as ConflictError.

Each mode runs two scenarios with THREADS threads, each its own store (its own pool: a node):

1. *different tracks*: each thread replays pre-built batches to its own track (store only, no signing);
2. *one track*: every thread appends to the same track through a LogWriter, retrying on ConflictError.

Usage (PostgreSQL on 127.0.0.1; a fresh schema per run, dropped afterwards)::

    PYTHONPATH=src python bench/pg_locking.py [--appends 60] [--threads 4] [--batch 10]

Figures go to stdout. On a shared machine absolute times are noise: compare the modes.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

from psycopg import errors as pg_errors

from backchannel.errors import ConflictError
from backchannel.store._batch import prepare_batch
from backchannel.store._pg_schema import write_batch
from backchannel.store.base import AppendBatch
from backchannel.store.memory import MemoryEventStore
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing._contract_helpers import InterceptingStore, drafts, writer_for
from backchannel.testing.postgres import fresh_schema


class SerializableStore(PostgresEventStore):
    """The store with SERIALIZABLE appends and no advisory lock (the measured alternative)."""

    failures = 0

    def append(self, batch: AppendBatch, expected_size: int) -> None:
        prepared = prepare_batch(batch, expected_size)
        try:
            with self._transaction(f"append to {batch.track!r}") as conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                write_batch(conn, prepared, lock=False)
        except (pg_errors.SerializationFailure, pg_errors.UniqueViolation) as e:
            type(self).failures += 1
            raise ConflictError(f"lost a race: {e}", expected=expected_size) from e


def prebuilt(track: str, count: int, batch: int) -> list[tuple[AppendBatch, int]]:
    spy = InterceptingStore(MemoryEventStore())
    writer = writer_for(spy)
    writer.open_track(track)
    spy.capture = True
    for n in range(count):
        writer.append(track, drafts(batch, n * batch))
        spy.inner.append(*spy.captured[-1])  # keep the memory store in step so the next batch builds on it
    return spy.captured


def threads(count: int, work: Callable[[int], None]) -> float:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as e:  # noqa: BLE001 - printed below
            errors.append(e)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def measure(mode: str, cls: type[PostgresEventStore], args: argparse.Namespace) -> None:
    batches = {n: prebuilt(f"t{n}", args.appends, args.batch) for n in range(args.threads)}
    with fresh_schema(prefix="bc_bench") as url, ExitStack() as stack:
        stores = [stack.enter_context(cls(url, max_size=2)) for _ in range(args.threads)]
        for n in range(args.threads):
            stores[0].create_track(f"t{n}", batches[n][0][0].checkpoint.checkpoint.origin, "k")
        SerializableStore.failures = 0

        def own_track(n: int) -> None:
            for batch, expected in batches[n]:
                stores[n].append(batch, expected)

        elapsed = threads(args.threads, own_track)
        appends = args.threads * args.appends
        print(
            f"{mode:13s} different tracks: {appends / elapsed:7.0f} appends/s "
            f"({appends} appends of {args.batch}, {SerializableStore.failures} false conflicts)"
        )

        writer_for(stores[0]).open_track("shared")
        conflicts = [0]
        SerializableStore.failures = 0

        def shared(n: int) -> None:
            writer = writer_for(stores[n], seed=b"w%d" % n)
            for i in range(args.appends // 2):
                while True:
                    try:
                        writer.append("shared", drafts(args.batch, 1000 * n + i))
                        break
                    except ConflictError:
                        conflicts[0] += 1

        elapsed = threads(args.threads, shared)
        appends = args.threads * (args.appends // 2)
        assert stores[0].size("shared") == appends * args.batch
        print(
            f"{mode:13s} one track:        {appends / elapsed:7.0f} appends/s "
            f"({appends} appends, {conflicts[0]} conflicts retried)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=60, help="appends per thread")
    parser.add_argument("--threads", type=int, default=4, help="threads, each its own store")
    parser.add_argument("--batch", type=int, default=10, help="entries per append")
    args = parser.parse_args()
    for mode, cls in (("advisory", PostgresEventStore), ("serializable", SerializableStore)):
        measure(mode, cls, args)


if __name__ == "__main__":
    main()
