"""The in-memory reference :class:`~backchannel.store.base.EventStore` (tests, simulation).

:class:`MemoryEventStore` keeps every track in Python lists and dicts and has
exactly the semantics of the SQLite adapter: an append validates the whole
batch before it mutates anything (so a refused batch leaves no trace), checks
the track's size under a lock (optimistic concurrency:
:class:`~backchannel.errors.ConflictError` with ``expected``/``actual``), and
:meth:`MemoryEventStore.read` is snapshot-safe (it yields the entries that
existed when it was called, however many appends follow).

Batch validation is shared with every adapter (:mod:`backchannel.store._batch`).

Thread safety: one store object may be shared by threads; every operation
holds an internal lock; iterators walk an append-only prefix fixed at the call.

This module does not persist anything (data lives as long as the object), does
not sign, and does not verify signatures or roots: the writer
(:mod:`backchannel.service.log`) builds batches and the verifier
(:mod:`backchannel.log.verify`) checks what is read back.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from backchannel.errors import ConflictError, NotFoundError, ProgrammingError
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.tree import NodeId
from backchannel.store._batch import check_origin, check_read_range, prepare_batch, size_conflict
from backchannel.store.base import (
    AppendBatch,
    EventStore,
    StoredAnnex,
    StoredCosignature,
    StoredEntry,
    StoredSplitView,
    TrackInfo,
)

__all__ = ["MemoryEventStore"]


@dataclass(slots=True)
class _Track:
    origin: str
    log_key: str
    entries: list[StoredEntry] = field(default_factory=list)
    nodes: dict[NodeId, bytes] = field(default_factory=dict)
    checkpoint_sizes: list[int] = field(default_factory=list)
    checkpoints: list[SignedCheckpoint] = field(default_factory=list)
    annexes: dict[bytes, StoredAnnex] = field(default_factory=dict)
    cosignatures: dict[int, dict[str, StoredCosignature]] = field(default_factory=dict)
    split_views: list[StoredSplitView] = field(default_factory=list)

    def info(self, track: str) -> TrackInfo:
        return TrackInfo(track, self.origin, self.log_key, len(self.entries))


class MemoryEventStore(EventStore):
    """An :class:`EventStore` held in memory: the reference adapter.

    Appends are atomic and "durable" for the life of the object. Safe to share
    between threads.
    """

    def __init__(self) -> None:
        """Create an empty store."""
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _track(self, track: str) -> _Track:
        if self._closed:
            raise ProgrammingError("MemoryEventStore is closed")
        found = self._tracks.get(track)
        if found is None:
            raise NotFoundError(f"unknown track {track!r}")
        return found

    # --- tracks -----------------------------------------------------------
    def create_track(self, track: str, origin: str, log_key: str) -> TrackInfo:
        """Register a new, empty track.

        Raises:
            ConflictError: the track exists.
            ProgrammingError: the store is closed.
        """
        with self._lock:
            if self._closed:
                raise ProgrammingError("MemoryEventStore is closed")
            if track in self._tracks:
                raise ConflictError(f"track {track!r} already exists")
            self._tracks[track] = _Track(origin, log_key)
            return TrackInfo(track, origin, log_key, 0)

    def get_track(self, track: str) -> TrackInfo:
        """Return a track's info.

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            return self._track(track).info(track)

    def list_tracks(self) -> list[TrackInfo]:
        """Return every track, ordered by id."""
        with self._lock:
            if self._closed:
                raise ProgrammingError("MemoryEventStore is closed")
            return [self._tracks[name].info(name) for name in sorted(self._tracks)]

    # --- writes -----------------------------------------------------------
    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Atomically persist a batch, its nodes and checkpoint.

        The whole batch is validated (:func:`prepare_batch`) before anything is
        mutated.

        Raises:
            NotFoundError: unknown track.
            ConflictError: the track's size is not ``expected_size`` (nothing written).
            ProgrammingError: the batch is inconsistent (nothing written).
        """
        prepared = prepare_batch(batch, expected_size)
        with self._lock:
            state = self._track(batch.track)
            actual = len(state.entries)
            if actual != expected_size:
                raise size_conflict(batch.track, expected_size, actual)
            check_origin(batch.track, state.origin, batch.checkpoint)
            # Nothing below can fail: the batch is validated and the size checked.
            for level, index, node_hash in prepared.nodes:
                state.nodes[level, index] = node_hash
            state.entries.extend(
                StoredEntry(row.seq, row.signed_bytes, row.salt, state.nodes[0, row.seq])
                for row in prepared.entries
            )
            state.checkpoint_sizes.append(prepared.new_size)
            state.checkpoints.append(prepared.checkpoint)

    # --- reads ------------------------------------------------------------
    def read(self, track: str, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Yield stored entries with ``start <= seq < stop`` in order.

        The range is fixed when this is called (a snapshot): entries appended
        while iterating are not yielded.

        Raises:
            NotFoundError: unknown track.
            ValueError: a negative start or ``stop < start``.
        """
        check_read_range(start, stop)
        with self._lock:
            entries = self._track(track).entries
            end = len(entries) if stop is None else min(stop, len(entries))
        return _iter_prefix(entries, start, end)

    def get_nodes(self, track: str, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the stored hashes of perfect-subtree nodes, in the order asked.

        Raises:
            NotFoundError: unknown track or a node that is not stored.
        """
        with self._lock:
            state = self._track(track)
            hashes: list[bytes] = []
            for node_id in ids:
                node_hash = state.nodes.get(node_id)
                if node_hash is None:
                    raise NotFoundError(_missing_node(track, node_id, len(state.entries)))
                hashes.append(node_hash)
            return hashes

    def checkpoints(self, track: str, start_size: int = 0) -> Iterator[SignedCheckpoint]:
        """Yield stored checkpoints with ``size >= start_size`` in size order.

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            state = self._track(track)
            first = bisect.bisect_left(state.checkpoint_sizes, start_size)
            return iter(state.checkpoints[first:])

    def latest_checkpoint(self, track: str) -> SignedCheckpoint | None:
        """Return the newest checkpoint, or ``None`` for an empty track.

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            state = self._track(track)
            return state.checkpoints[-1] if state.checkpoints else None

    # --- annexes ----------------------------------------------------------
    def put_annex(self, track: str, data: bytes, party: str) -> bool:
        """Store ``data`` under its SHA-256 and record ``party`` as an uploader.

        Returns:
            True if ``party`` was not yet recorded for these bytes.

        Raises:
            NotFoundError: unknown track.
        """
        digest = hashlib.sha256(data).digest()
        with self._lock:
            annexes = self._track(track).annexes
            found = annexes.get(digest)
            if found is not None and party in found.uploaders:
                return False
            uploaders = (party,) if found is None else (*found.uploaders, party)
            annexes[digest] = StoredAnnex(digest, bytes(data), uploaders)
            return True

    def get_annex(self, track: str, digest: bytes) -> StoredAnnex | None:
        """Return the annex stored under ``digest``, or ``None``.

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            return self._track(track).annexes.get(digest)

    # --- witness cosignatures ----------------------------------------------
    def put_cosignature(self, track: str, cosignature: StoredCosignature) -> bool:
        """Keep the newest cosignature per (checkpoint, cosigner).

        Returns:
            True if stored (the first from that cosigner for that size, or newer).

        Raises:
            NotFoundError: unknown track, or no checkpoint of that size.
        """
        with self._lock:
            state = self._track(track)
            position = bisect.bisect_left(state.checkpoint_sizes, cosignature.size)
            if (
                position == len(state.checkpoint_sizes)
                or state.checkpoint_sizes[position] != cosignature.size
            ):
                raise NotFoundError(f"track {track!r} has no checkpoint of size {cosignature.size}")
            kept = state.cosignatures.setdefault(cosignature.size, {})
            found = kept.get(cosignature.cosigner)
            if found is not None and found.timestamp >= cosignature.timestamp:
                return False
            kept[cosignature.cosigner] = cosignature
            return True

    def cosignatures(self, track: str, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by cosigner name.

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            kept = self._track(track).cosignatures.get(size, {})
            return [kept[name] for name in sorted(kept)]

    def latest_cosigned_size(self, track: str, minimum: int = 1) -> int | None:
        """The largest checkpoint size with at least ``minimum`` cosignatures, or ``None``.

        Raises:
            NotFoundError: unknown track.
            ValueError: ``minimum`` below 1.
        """
        if minimum < 1:
            raise ValueError("latest_cosigned_size: minimum must be at least 1")
        with self._lock:
            kept = self._track(track).cosignatures
            return max((size for size, found in kept.items() if len(found) >= minimum), default=None)

    # --- split-view alarms --------------------------------------------------
    def put_split_view(self, track: str, alarm: StoredSplitView) -> bool:
        """Keep one alarm per (reporter, old note, new note).

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            kept = self._track(track).split_views
            key = (alarm.reporter, alarm.old_note, alarm.new_note)
            if any((a.reporter, a.old_note, a.new_note) == key for a in kept):
                return False
            kept.append(alarm)
            return True

    def split_views(self, track: str) -> list[StoredSplitView]:
        """The alarms, in the order they were stored.

        Raises:
            NotFoundError: unknown track.
        """
        with self._lock:
            return list(self._track(track).split_views)

    def close(self) -> None:
        """Drop every track. Idempotent; later calls raise ``ProgrammingError``."""
        with self._lock:
            self._closed = True
            self._tracks = {}


def _missing_node(track: str, node_id: NodeId, size: int) -> str:
    level, index = node_id
    return f"track {track!r}: node (level {level}, index {index}) is not stored (track size {size})"


def _iter_prefix(entries: list[StoredEntry], start: int, end: int) -> Iterator[StoredEntry]:
    # The list only ever grows, so indices below ``end`` never change.
    for seq in range(start, end):
        yield entries[seq]
