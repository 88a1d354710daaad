"""Benchmark the hardening of issue #8: the periodic work of idle tracks, and replay-window checks.

Run with ``.venv-bench/bin/python bench/hardening.py [--quick]`` (``make bench``
builds ``.venv-bench``). Peers run side by side in the same process and the
ratios are printed:

1. A tick of the periodic work over N idle tracks: ``PeriodicWork`` (a heap of
   due times: visits only the tracks with work due) against what the ticker
   did before issue #8 (every track, three passes: escrows, deals and
   deliveries, obligations).
2. Replay checks per second: ``ReplayWindow`` (budgets per key and per track)
   against the one global ``NonceCache`` it replaced, over 100 keys.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from backchannel.broker import DeliveryPolicy
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.httpsig import NonceCache
from backchannel.protocol.wire import sign_command
from backchannel.service.deals import DealService
from backchannel.service.delivery import DeliveryService
from backchannel.service.escrow import EscrowService
from backchannel.service.log import LogWriter
from backchannel.service.obligations import ObligationService
from backchannel.service.replay import ReplayWindow
from backchannel.service.schedule import PeriodicWork
from backchannel.service.tracks import TrackService
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import opening, seeded_keys

NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
START = datetime(2026, 1, 1, tzinfo=UTC)


def ticks(n_tracks: int) -> None:
    """Section 1: one tick over ``n_tracks`` idle tracks, ours and before."""
    clock = FakeClock(START)
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("bench.log", SigningKey.from_seed(b"\x09" * 32)), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    delivery = DeliveryService(tracks, NODE, DeliveryPolicy(), clock=clock)
    deals = DealService(tracks, NODE, clock=clock)
    escrows = EscrowService(tracks, NODE, clock=clock)
    obligations = ObligationService(tracks, NODE, clock=clock)
    for i in range(n_tracks):
        for who, command, body in opening(QATAR, NODE, [], agenda=None):
            delivery.submit(sign_command(
                who.signing, track=f"t{i}", command=command, member=who.name, body=body,
                issued_at=clock.now(), nonce=f"nonce-{i:08d}",
            ))  # fmt: skip
    work = PeriodicWork(tracks, deals=deals, delivery=delivery, escrows=escrows, obligations=obligations)
    began = time.perf_counter()
    work.tick(clock.now())
    first = time.perf_counter() - began
    rounds = 1000
    began = time.perf_counter()
    for _ in range(rounds):
        work.tick(clock.now())
    ours = (time.perf_counter() - began) / rounds

    def before(now: datetime) -> None:  # main's _Api.tick_due before issue #8
        escrows.tick_due(now)
        for info in store.list_tracks():
            deals.tick(info.track, now)
            delivery.next_wakeup(info.track, now)
        obligations.tick_due(now)

    old_rounds = 5
    began = time.perf_counter()
    for _ in range(old_rounds):
        before(clock.now())
    theirs = (time.perf_counter() - began) / old_rounds
    print(f"  {n_tracks:,} idle tracks: first tick {first * 1e3:.1f} ms (learns every due time once)")
    print(f"  steady tick, ours:   {ours * 1e6:10.1f} us  ({work.statistics().last_visits} tracks visited)")
    print(f"  steady tick, before: {theirs * 1e6:10.1f} us  ({n_tracks:,} tracks visited, 3 passes)")
    print(f"  ratio before/ours: {theirs / ours:,.0f}x")


def replay_checks(count: int) -> None:
    """Section 2: replay checks per second over 100 keys, ours and the global cache."""
    window = ReplayWindow(timedelta(seconds=300))
    cache = NonceCache(timedelta(seconds=300), 1_000_000)
    began = time.perf_counter()
    for i in range(count):
        window.check_and_add(f"t{i % 10}", f"k{i % 100}", f"n{i}", START, START)
    ours = count / (time.perf_counter() - began)
    began = time.perf_counter()
    for i in range(count):
        cache.check_and_add(f"k{i % 100}", f"n{i}", START, START)
    theirs = count / (time.perf_counter() - began)
    print(
        f"  {count:,} checks: ours {ours:,.0f}/s, global cache {theirs:,.0f}/s, "
        f"ratio ours/global {ours / theirs:.2f}x"
    )


def main() -> None:
    """Run both sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    print("[1] periodic work over idle tracks", file=sys.stderr)
    print("[1] A tick of the periodic work (issue #8)")
    ticks(200 if args.quick else 5000)
    print("[2] Replay checks (issue #8)")
    replay_checks(10_000 if args.quick else 200_000)


if __name__ == "__main__":
    main()
