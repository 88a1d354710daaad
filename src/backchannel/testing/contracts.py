"""Contract test suites every adapter must pass (eventsourcing's persistence tests).

:class:`EventStoreContract` holds every behaviour of
:class:`~backchannel.store.base.EventStore` as pytest tests. An adapter's test
module subclasses it and supplies a ``store_factory`` fixture::

    class TestSQLiteEventStore(EventStoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path: Path) -> StoreFactory:
            return lambda: SQLiteEventStore(tmp_path / "store.db")

Batches are built by the real :class:`~backchannel.service.log.LogWriter`
with fixed Ed25519 seeds, a :class:`~backchannel.testing.clock.FakeClock` and
:class:`~backchannel.testing.salts.UnsafeDeterministicSalts`, so every run writes the same bytes.

This module does not test adapter-specific behaviour (durability settings,
migrations, file handling): each adapter's own unit tests do. It needs pytest.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator

import pytest

from backchannel.errors import ConflictError, NotFoundError, ProgrammingError, StorageError
from backchannel.log import merkle
from backchannel.log.records import LogEntry
from backchannel.log.tree import CompactRange, MemoryTree, NodeId
from backchannel.service.log import AppendResult, LogWriter
from backchannel.store.base import (
    EventStore,
    StoredAnnex,
    StoredCosignature,
    StoredSplitView,
    TrackInfo,
)
from backchannel.store.memory import MemoryEventStore
from backchannel.testing._contract_helpers import (
    BATCHES,
    CORRUPTIONS,
    LOG_NAME,
    InterceptingStore,
    StoreFactory,
    capture_batch,
    drafts,
    log_signer,
    state_of,
    writer_for,
)
from backchannel.testing._contract_helpers import (
    leaves as leaf_hashes,
)

__all__ = ["LOG_NAME", "EventStoreContract", "StoreFactory", "log_signer"]


class EventStoreContract:
    """Every behaviour of an :class:`EventStore`, as an abstract pytest class.

    Subclass it in a module named ``test_*.py`` with a ``Test`` prefix and
    override the ``store_factory`` fixture. The base class has no ``Test``
    prefix, so pytest does not collect it on its own.
    """

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Return a zero-argument callable making a store (override in the adapter's tests)."""
        msg = "an EventStoreContract subclass must override the store_factory fixture"
        raise NotImplementedError(msg)

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> Iterator[EventStore]:
        """An empty store, closed after the test."""
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def writer(self, store: EventStore) -> LogWriter:
        """A deterministic log writer on ``store``."""
        return writer_for(store)

    @pytest.fixture
    def built(self, writer: LogWriter) -> list[AppendResult]:
        """Track ``t`` with about 40 entries, appended in batches of several sizes."""
        writer.open_track("t")
        results = []
        first = 0
        for count in BATCHES:
            results.append(writer.append("t", drafts(count, first)))
            first += count
        return results

    # --- tracks -----------------------------------------------------------
    def test_create_track_returns_an_empty_track(self, store: EventStore) -> None:
        """A new track is empty and can be read back."""
        info = store.create_track("t", "log.example/t", "key")
        assert info == TrackInfo("t", "log.example/t", "key", 0)
        assert store.get_track("t") == info
        assert store.size("t") == 0

    def test_create_duplicate_track_conflicts_and_keeps_the_original(self, store: EventStore) -> None:
        """Creating an existing track is a ConflictError that changes nothing."""
        store.create_track("t", "log.example/t", "key")
        with pytest.raises(ConflictError, match="'t' already exists"):
            store.create_track("t", "other/t", "other-key")
        assert store.get_track("t") == TrackInfo("t", "log.example/t", "key", 0)

    def test_list_tracks_is_ordered_by_id(self, store: EventStore) -> None:
        """``list_tracks`` returns every track, ordered by id."""
        assert store.list_tracks() == []
        for name in ("b", "c", "a"):
            store.create_track(name, f"o/{name}", "key")
        assert [info.track for info in store.list_tracks()] == ["a", "b", "c"]
        assert store.list_tracks()[0] == TrackInfo("a", "o/a", "key", 0)

    def test_list_tracks_reports_sizes(self, store: EventStore, writer: LogWriter) -> None:
        """``list_tracks`` reports each track's current size."""
        writer.open_track("a")
        writer.open_track("b")
        writer.append("b", drafts(3))
        assert [(info.track, info.size) for info in store.list_tracks()] == [("a", 0), ("b", 3)]

    def test_unknown_track_is_not_found_everywhere(self, store: EventStore) -> None:
        """Every operation on an unknown track raises NotFoundError, eagerly."""
        scratch = MemoryEventStore()  # a well-formed batch for a track the store under test lacks
        writer_for(scratch).open_track("nope")
        batch, expected = capture_batch(scratch, "nope", 1)
        calls: list[Callable[[], object]] = [
            lambda: store.get_track("nope"),
            lambda: store.size("nope"),
            lambda: store.read("nope"),  # raises when called, not when iterated
            lambda: store.get_nodes("nope", []),
            lambda: store.checkpoints("nope"),
            lambda: store.latest_checkpoint("nope"),
            lambda: store.frontier("nope"),
            lambda: store.root("nope"),
            lambda: store.append(batch, expected),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()

    def test_tracks_are_independent(self, store: EventStore, writer: LogWriter) -> None:
        """Appends to one track do not touch another."""
        writer.open_track("a")
        writer.open_track("b")
        writer.append("a", drafts(4))
        writer.append("b", drafts(1))
        writer.append("a", drafts(2, 4))
        assert (store.size("a"), store.size("b")) == (6, 1)
        assert [e.seq for e in store.read("b")] == [0]
        assert [c.checkpoint.size for c in store.checkpoints("a")] == [4, 6]
        assert [c.checkpoint.size for c in store.checkpoints("b")] == [1]
        assert store.root("b") == merkle.root(leaf_hashes(store, "b"))

    # --- append and read --------------------------------------------------
    def test_append_read_round_trip_is_byte_identical(self, store: EventStore, writer: LogWriter) -> None:
        """Entries read back are the appended bytes, salt and leaf hash."""
        writer.open_track("t")
        result = writer.append("t", drafts(3))
        stored = list(store.read("t"))
        assert [e.seq for e in stored] == [0, 1, 2]
        for entry, original in zip(stored, result.entries, strict=True):
            assert entry.signed_bytes == original.signed.to_bytes()
            assert entry.salt == original.salt
            assert entry.leaf_hash == original.leaf_hash
            assert entry.computed_leaf_hash() == entry.leaf_hash
            assert entry.decode() == original
        assert store.size("t") == 3

    def test_stored_entry_decode_round_trip(self, store: EventStore, built: list[AppendResult]) -> None:
        """``StoredEntry.decode`` reproduces the appended entry and its leaf hash."""
        originals: list[LogEntry] = [entry for result in built for entry in result.entries]
        stored = list(store.read("t"))
        assert len(stored) == len(originals) == sum(BATCHES)
        for entry, original in zip(stored, originals, strict=True):
            decoded = entry.decode()
            assert decoded == original
            assert decoded.signed.to_bytes() == entry.signed_bytes
            assert decoded.leaf_hash == entry.leaf_hash == entry.computed_leaf_hash()

    @pytest.mark.usefixtures("built")
    def test_read_ranges(self, store: EventStore) -> None:
        """``read(start, stop)`` yields exactly the entries in the range, in order."""
        size = store.size("t")
        everything = list(store.read("t"))
        for start in range(size + 2):
            for stop in range(start, size + 3):
                assert list(store.read("t", start, stop)) == everything[start:stop], (start, stop)
            assert list(store.read("t", start)) == everything[start:]

    def test_read_empty_ranges(self, store: EventStore, writer: LogWriter) -> None:
        """Empty and out-of-range reads yield nothing."""
        writer.open_track("t")
        assert list(store.read("t")) == []
        writer.append("t", drafts(3))
        assert list(store.read("t", 2, 2)) == []
        assert list(store.read("t", 3)) == []
        assert list(store.read("t", 10, 20)) == []

    def test_read_bad_ranges(self, store: EventStore, writer: LogWriter) -> None:
        """A negative start or ``stop < start`` is a ValueError, raised by the call."""
        writer.open_track("t")
        writer.append("t", drafts(3))
        with pytest.raises(ValueError, match="start"):
            store.read("t", -1)
        with pytest.raises(ValueError, match="stop"):
            store.read("t", 2, 1)

    def test_read_is_a_snapshot(self, store: EventStore, writer: LogWriter) -> None:
        """A read yields the entries that existed when it was called."""
        writer.open_track("t")
        writer.append("t", drafts(3))
        untouched = store.read("t")
        started = store.read("t")
        assert next(started).seq == 0
        writer.append("t", drafts(2, 3))
        assert [e.seq for e in untouched] == [0, 1, 2]
        assert [e.seq for e in started] == [1, 2]
        assert [e.seq for e in store.read("t")] == [0, 1, 2, 3, 4]

    def test_multi_event_append_is_one_atomic_step(self, store: EventStore, writer: LogWriter) -> None:
        """A multi-event batch lands whole, with one checkpoint."""
        writer.open_track("t")
        result = writer.append("t", drafts(5))
        assert store.size("t") == 5
        assert list(store.checkpoints("t")) == [result.checkpoint]
        assert result.checkpoint.checkpoint.size == 5

    # --- optimistic concurrency ---------------------------------------------
    def test_stale_expected_size_conflicts_and_writes_nothing(
        self, store: EventStore, writer: LogWriter
    ) -> None:
        """A batch built on a stale size is a ConflictError and writes nothing."""
        writer.open_track("t")
        writer.append("t", drafts(2))
        stale, expected = capture_batch(store, "t", 3)
        writer.append("t", drafts(1, 2))
        before = state_of(store, "t")
        with pytest.raises(ConflictError, match="expected size 2") as caught:
            store.append(stale, expected)
        assert (caught.value.expected, caught.value.actual) == (2, 3)
        assert state_of(store, "t") == before

    def test_concurrent_writers_the_loser_conflicts(self, store: EventStore, writer: LogWriter) -> None:
        """Of two racing writers the later gets ConflictError, then retries cleanly."""
        writer.open_track("t")
        writer.append("t", drafts(2))
        racing = InterceptingStore(store)
        loser = writer_for(racing, seed=b"loser")
        racing.before_append = lambda: writer.append("t", drafts(3, 2))  # the winner lands first
        with pytest.raises(ConflictError) as caught:
            loser.append("t", drafts(4, 10))
        assert (caught.value.expected, caught.value.actual) == (2, 5)
        assert store.size("t") == 5
        loser.append("t", drafts(4, 10))  # a retry builds on the new size
        stored = list(store.read("t"))
        assert [e.seq for e in stored] == list(range(9))
        for previous, entry in itertools.pairwise(stored):
            assert entry.decode().signed.event.prev == previous.leaf_hash
        assert store.root("t") == merkle.root([e.leaf_hash for e in stored])

    def test_threads_sharing_a_store_never_lose_or_reorder(self, store: EventStore) -> None:
        """Threads appending with retries produce one gapless, chained log."""
        writer_for(store).open_track("t")
        conflicts = []
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            writer = writer_for(store, seed=b"thread-%d" % worker)
            try:
                for round_ in range(5):
                    while True:
                        try:
                            writer.append("t", drafts(2, 1000 * worker + 10 * round_))
                            break
                        except ConflictError:
                            conflicts.append(worker)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        stored = list(store.read("t"))
        assert [e.seq for e in stored] == list(range(40))
        for previous, entry in itertools.pairwise(stored):
            assert entry.decode().signed.event.prev == previous.leaf_hash
        assert [c.checkpoint.size for c in store.checkpoints("t")] == list(range(2, 41, 2))
        assert store.root("t") == merkle.root([e.leaf_hash for e in stored])

    # --- batch validation ---------------------------------------------------
    @pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
    def test_inconsistent_batch_is_refused_and_writes_nothing(
        self, store: EventStore, writer: LogWriter, corruption: str
    ) -> None:
        """An inconsistent batch is a ProgrammingError that writes nothing."""
        writer.open_track("t")
        writer.open_track("other")
        writer.append("t", drafts(2))
        writer.append("t", drafts(1, 2))
        good, expected = capture_batch(store, "t", 3)
        bad, bad_expected = CORRUPTIONS[corruption](good, expected)
        before, other = state_of(store, "t"), state_of(store, "other")
        with pytest.raises(ProgrammingError):
            store.append(bad, bad_expected)
        assert state_of(store, "t") == before
        assert state_of(store, "other") == other
        store.append(good, expected)  # nothing half-written is in the way
        assert store.size("t") == 6

    def test_batch_with_entries_from_an_older_position_is_refused(
        self, store: EventStore, writer: LogWriter
    ) -> None:
        """Entries whose first seq is not the expected size are refused."""
        writer.open_track("t")
        first, _ = capture_batch(store, "t", 2)  # seqs 0 and 1
        writer.append("t", drafts(3))
        before = state_of(store, "t")
        with pytest.raises(ProgrammingError, match="seq 0, expected 3"):
            store.append(first, 3)
        assert state_of(store, "t") == before

    # --- nodes, roots and proofs --------------------------------------------
    @pytest.mark.usefixtures("built")
    def test_nodes_equal_a_fresh_memory_tree(self, store: EventStore) -> None:
        """Every stored node equals the node a fresh MemoryTree computes."""
        leaves = leaf_hashes(store, "t")
        reference = MemoryTree(leaves)
        size = len(leaves)
        every: list[NodeId] = [
            (level, index) for level in range(size.bit_length()) for index in range(size >> level)
        ]
        assert len(every) > 64  # more than one lookup query's worth
        assert store.get_nodes("t", every) == reference.get_nodes(every)
        shuffled = every[::-1] + every[:5]  # any order, repeats allowed
        assert store.get_nodes("t", shuffled) == reference.get_nodes(shuffled)
        assert store.get_nodes("t", []) == []

    @pytest.mark.usefixtures("built")
    def test_missing_node_is_not_found_and_named(self, store: EventStore) -> None:
        """Asking for a node that is not stored is a NotFoundError naming it."""
        size = store.size("t")
        with pytest.raises(NotFoundError, match=rf"level 0, index {size}\b"):
            store.get_nodes("t", [(0, 0), (0, size)])
        with pytest.raises(NotFoundError, match="level 6, index 0"):
            store.get_nodes("t", [(6, 0)])  # 64 leaves: not complete yet
        with pytest.raises(NotFoundError):
            store.get_nodes("t", [(-1, 0)])

    def test_roots_and_proofs_equal_the_rfc_reference(
        self, store: EventStore, built: list[AppendResult]
    ) -> None:
        """Roots and proofs for every index and size pair equal RFC 9162's."""
        leaves = leaf_hashes(store, "t")
        assert len(leaves) == sum(BATCHES)
        assert store.root("t") == merkle.root(leaves) == built[-1].checkpoint.checkpoint.root
        for size in range(len(leaves) + 1):
            prefix = leaves[:size]
            assert store.root("t", size) == merkle.root(prefix), size
            for index in range(size):
                proof = store.inclusion_proof("t", index, size)
                assert proof == merkle.inclusion_proof(prefix, index), (index, size)
            for old in range(size + 1):
                proof = store.consistency_proof("t", old, size)
                assert proof == merkle.consistency_proof(prefix, old), (old, size)
        assert store.inclusion_proof("t", 3) == merkle.inclusion_proof(leaves, 3)
        assert store.consistency_proof("t", 7) == merkle.consistency_proof(leaves, 7)

    def test_frontier_equals_the_compact_range_of_all_leaves(
        self, store: EventStore, writer: LogWriter
    ) -> None:
        """``frontier`` equals the compact range of every leaf, after each batch."""
        writer.open_track("t")
        assert store.frontier("t").size == 0
        assert store.frontier("t").hashes == ()
        first = 0
        for count in BATCHES:
            writer.append("t", drafts(count, first))
            first += count
            expected = CompactRange()
            expected.extend(leaf_hashes(store, "t"))
            frontier = store.frontier("t")
            assert (frontier.size, frontier.hashes) == (expected.size, expected.hashes)
            assert frontier.root() == store.root("t")

    # --- checkpoints -------------------------------------------------------
    def test_checkpoints_in_size_order_and_latest(self, store: EventStore, built: list[AppendResult]) -> None:
        """Checkpoints come back in size order, filtered by start size, and verify."""
        written = [result.checkpoint for result in built]
        assert list(store.checkpoints("t")) == written
        sizes = [c.checkpoint.size for c in written]
        assert sizes == list(itertools.accumulate(BATCHES))
        for start in range(sizes[-1] + 2):
            assert list(store.checkpoints("t", start)) == [c for c in written if c.checkpoint.size >= start]
        assert store.latest_checkpoint("t") == written[-1]
        leaves = leaf_hashes(store, "t")
        verifier = log_signer().verifier
        for note in store.checkpoints("t"):
            checkpoint = verifier.verify(note)
            assert checkpoint.root == merkle.root(leaves[: checkpoint.size])
            assert checkpoint.origin == store.get_track("t").origin

    def test_empty_track_has_no_checkpoints(self, store: EventStore, writer: LogWriter) -> None:
        """An empty track has no checkpoints and no latest one."""
        writer.open_track("t")
        assert list(store.checkpoints("t")) == []
        assert store.latest_checkpoint("t") is None

    def test_checkpoints_iterator_is_a_snapshot(self, store: EventStore, writer: LogWriter) -> None:
        """A checkpoints iterator yields those that existed when it was called."""
        writer.open_track("t")
        writer.append("t", drafts(1))
        notes = store.checkpoints("t")
        writer.append("t", drafts(1, 1))
        assert [c.checkpoint.size for c in notes] == [1]

    # --- annexes ------------------------------------------------------------
    def test_an_annex_is_stored_under_its_sha256_and_read_back_byte_identical(
        self, store: EventStore
    ) -> None:
        """The store computes the digest; the bytes come back exactly, with their uploader."""
        store.create_track("t", "o/t", "key")
        data = bytes(range(256)) * 4 + b"\x00"
        digest = hashlib.sha256(data).digest()
        assert store.get_annex("t", digest) is None
        assert store.put_annex("t", data, "usa") is True
        assert store.get_annex("t", digest) == StoredAnnex(digest, data, ("usa",))
        assert store.get_annex("t", hashlib.sha256(b"other").digest()) is None

    def test_re_uploading_an_annex_is_idempotent_and_records_each_party_once(self, store: EventStore) -> None:
        """The same bytes are kept once; every uploading party is recorded once, in first-upload order."""
        store.create_track("t", "o/t", "key")
        digest = hashlib.sha256(b"sealed").digest()
        assert store.put_annex("t", b"sealed", "usa") is True
        assert store.put_annex("t", b"sealed", "usa") is False
        assert store.put_annex("t", b"sealed", "qatar") is True
        assert store.put_annex("t", b"sealed", "usa") is False
        assert store.get_annex("t", digest) == StoredAnnex(digest, b"sealed", ("usa", "qatar"))

    def test_annexes_are_per_track(self, store: EventStore) -> None:
        """A blob stored in one track is not in another; an empty blob is a blob."""
        store.create_track("a", "o/a", "key")
        store.create_track("b", "o/b", "key")
        store.put_annex("a", b"", "usa")
        digest = hashlib.sha256(b"").digest()
        assert store.get_annex("a", digest) == StoredAnnex(digest, b"", ("usa",))
        assert store.get_annex("b", digest) is None
        assert store.size("a") == 0  # an annex is not a log entry

    def test_annexes_of_an_unknown_track_are_not_found(self, store: EventStore) -> None:
        """Both annex operations name the unknown track."""
        with pytest.raises(NotFoundError, match="nope"):
            store.put_annex("nope", b"x", "usa")
        with pytest.raises(NotFoundError, match="nope"):
            store.get_annex("nope", bytes(32))

    # --- witness cosignatures ----------------------------------------------
    def test_cosignatures_are_kept_per_checkpoint_and_cosigner_newest_wins(
        self, store: EventStore, built: list[AppendResult]
    ) -> None:
        """One per (size, cosigner): a newer timestamp replaces it, an equal or older one does not."""
        first, second = (r.checkpoint.checkpoint.size for r in built[:2])
        assert store.cosignatures("t", first) == []
        a1 = StoredCosignature(first, "norway/principal", 100, "line a1")
        assert store.put_cosignature("t", a1) is True
        assert store.put_cosignature("t", a1) is False
        assert store.put_cosignature("t", StoredCosignature(first, "norway/principal", 99, "older")) is False
        assert (
            store.put_cosignature("t", StoredCosignature(first, "norway/principal", 100, "same time"))
            is False
        )
        assert store.cosignatures("t", first) == [a1]
        a2 = StoredCosignature(first, "norway/principal", 101, "line a2")
        assert store.put_cosignature("t", a2) is True
        b = StoredCosignature(first, "chile/principal", 5, "line b")
        assert store.put_cosignature("t", b) is True
        assert store.cosignatures("t", first) == [b, a2]  # ordered by cosigner name
        assert store.cosignatures("t", second) == []
        assert next(iter(store.checkpoints("t"))) == built[0].checkpoint  # the log-signed note is untouched

    def test_the_latest_cosigned_size_counts_cosigners(
        self, store: EventStore, built: list[AppendResult]
    ) -> None:
        """The largest size with at least ``minimum`` distinct cosigners; ``None`` when there is none."""
        sizes = [r.checkpoint.checkpoint.size for r in built]
        assert store.latest_cosigned_size("t") is None
        store.put_cosignature("t", StoredCosignature(sizes[1], "w1", 1, "x"))
        store.put_cosignature("t", StoredCosignature(sizes[1], "w2", 1, "x"))
        store.put_cosignature("t", StoredCosignature(sizes[3], "w1", 1, "x"))
        store.put_cosignature("t", StoredCosignature(sizes[3], "w1", 2, "x"))  # the same cosigner again
        assert store.latest_cosigned_size("t") == sizes[3]
        assert store.latest_cosigned_size("t", 2) == sizes[1]
        assert store.latest_cosigned_size("t", 3) is None
        with pytest.raises(ValueError, match="minimum"):
            store.latest_cosigned_size("t", 0)

    def test_a_cosignature_of_a_checkpoint_that_does_not_exist_is_refused(
        self, store: EventStore, built: list[AppendResult]
    ) -> None:
        """Only stored checkpoints can be cosigned; unknown tracks are not found everywhere."""
        size = built[0].checkpoint.checkpoint.size
        with pytest.raises(NotFoundError, match="no checkpoint of size"):
            store.put_cosignature("t", StoredCosignature(size + 1, "w", 1, "x"))
        with pytest.raises(NotFoundError, match="no checkpoint of size"):
            store.put_cosignature("t", StoredCosignature(10**6, "w", 1, "x"))
        assert store.latest_cosigned_size("t") is None
        for call in (
            lambda: store.put_cosignature("nope", StoredCosignature(1, "w", 1, "x")),
            lambda: store.cosignatures("nope", 1),
            lambda: store.latest_cosigned_size("nope"),
        ):
            with pytest.raises(NotFoundError, match="nope"):
                call()

    # --- split-view alarms --------------------------------------------------
    def test_split_view_alarms_are_kept_once_each_in_order_and_per_track(
        self, store: EventStore, writer: LogWriter
    ) -> None:
        """The same evidence twice is one alarm; alarms are per track; unknown tracks are not found."""
        writer.open_track("t")
        writer.open_track("u")
        first = StoredSplitView("w1", 10, "old", "new", "why")
        assert store.split_views("t") == []
        assert store.put_split_view("t", first) is True
        assert store.put_split_view("t", StoredSplitView("w1", 11, "old", "new", "again")) is False
        second = StoredSplitView("w2", 12, "old", "new", "why")
        assert store.put_split_view("t", second) is True
        assert store.split_views("t") == [first, second]
        assert store.split_views("u") == []
        for call in (lambda: store.put_split_view("nope", first), lambda: store.split_views("nope")):
            with pytest.raises(NotFoundError, match="nope"):
                call()

    # --- lifecycle ----------------------------------------------------------
    def test_close_is_idempotent_and_closed_stores_refuse_work(self, store_factory: StoreFactory) -> None:
        """``close`` may be called twice; a closed store raises StorageError."""
        store = store_factory()
        store.close()
        store.close()
        with pytest.raises(StorageError):
            store.list_tracks()

    def test_context_manager_closes(self, store_factory: StoreFactory) -> None:
        """Leaving a ``with`` block closes the store."""
        with store_factory() as store:
            store.create_track("t", "o/t", "key")
            assert store.size("t") == 0
        with pytest.raises(StorageError):
            store.get_track("t")
