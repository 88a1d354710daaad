"""Two PostgresEventStores (two pools: two nodes) on one schema: appends to a track are serialised.

Racing appends built on the same size never both win: one gets ConflictError
and writes nothing, and the log stays one gapless, verifiable chain. Appends
to different tracks do not wait for each other (ADR-0055).
"""

import itertools
import threading
from collections.abc import Iterator

import psycopg
import pytest

from backchannel.errors import ConflictError
from backchannel.log import merkle
from backchannel.store.base import AppendBatch
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing._contract_helpers import capture_batch, drafts, writer_for

ROUNDS = 6


def assert_one_chain(store: PostgresEventStore, track: str) -> None:
    """Gapless seqs, each entry chained to the previous leaf, every checkpoint on the stored tree."""
    stored = list(store.read(track))
    assert [e.seq for e in stored] == list(range(store.size(track)))
    for previous, entry in itertools.pairwise(stored):
        assert entry.decode().signed.event.prev == previous.leaf_hash
    leaves = [e.leaf_hash for e in stored]
    for checkpoint in store.checkpoints(track):
        size = checkpoint.checkpoint.size
        assert checkpoint.checkpoint.root == merkle.root(leaves[:size]) == store.root(track, size)


@pytest.fixture
def nodes(postgres_url: str) -> Iterator[tuple[PostgresEventStore, PostgresEventStore]]:
    with PostgresEventStore(postgres_url, max_size=2) as a, PostgresEventStore(postgres_url, max_size=2) as b:
        yield a, b


def race(appends: list[tuple[PostgresEventStore, AppendBatch, int]]) -> list[BaseException | None]:
    """Run the appends at once (a barrier releases them together); return what each raised."""
    barrier = threading.Barrier(len(appends))
    outcomes: list[BaseException | None] = [None] * len(appends)

    def run(slot: int) -> None:
        store, batch, expected = appends[slot]
        barrier.wait(timeout=10)
        try:
            store.append(batch, expected)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            outcomes[slot] = e

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(len(appends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_two_nodes_racing_on_one_track_never_both_win(
    nodes: tuple[PostgresEventStore, PostgresEventStore],
) -> None:
    a, b = nodes
    writer_for(a).open_track("t")
    for round_ in range(ROUNDS):
        size = a.size("t")
        first = capture_batch(a, "t", 2)  # both built on the same size, with different bytes
        second = capture_batch(b, "t", 3)
        outcomes = race([(a, *first), (b, *second)])
        losers = [e for e in outcomes if e is not None]
        assert len(losers) == 1, f"round {round_}: {outcomes}"
        assert isinstance(losers[0], ConflictError)
        assert losers[0].expected == size
        winner_count = 2 if outcomes[0] is None else 3
        assert a.size("t") == b.size("t") == size + winner_count
    assert_one_chain(b, "t")
    assert [c.checkpoint.size for c in a.checkpoints("t")] == [c.checkpoint.size for c in b.checkpoints("t")]


def test_appends_to_other_tracks_do_not_wait_for_a_held_track(
    nodes: tuple[PostgresEventStore, PostgresEventStore], postgres_url: str
) -> None:
    a, b = nodes
    writer_for(a).open_track("busy")
    writer_for(a).open_track("free")
    held = capture_batch(a, "busy", 1)
    # a third session holds the lock an append to "busy" takes (as a slow append on another node would)
    with psycopg.connect(postgres_url) as blocker:
        blocker.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('backchannel.track:' || current_schema() || ':busy', 0))"
        )
        done = threading.Event()
        waiting = threading.Thread(target=lambda: (a.append(*held), done.set()))
        waiting.start()
        assert not done.wait(0.5), "the append to the held track did not wait for its lock"
        writer_for(b).append("free", drafts(2))  # another track, another node: not blocked
        assert b.size("free") == 2
        assert not done.is_set()
        blocker.rollback()  # release the lock: the waiting append goes through
        waiting.join(timeout=10)
    assert done.is_set()
    assert a.size("busy") == 1
    assert_one_chain(b, "busy")
    assert_one_chain(a, "free")
