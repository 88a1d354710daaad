"""The EventStore contract: persistence of per-track logs, leaves and checkpoints.

A store holds, per track: the log entries (canonical signed event bytes and
salt), every perfect-subtree node hash of the track's Merkle tree (level 0 are
the leaf hashes), the signed checkpoints, and annex blobs (opaque bytes,
usually sealed, addressed by their SHA-256, with the parties that uploaded
them; ADR-0014). Annexes are not part of the log: a message names an annex
by its digest, which is what the log commits to. One :meth:`EventStore.append`
writes a whole batch atomically (entries, their nodes and the batch's signed
checkpoint) with optimistic concurrency on the track's size: the caller names
the size it built the batch on and gets :class:`~backchannel.errors.ConflictError`
if another writer got there first; nothing is half-written.

Proofs are computed from stored node hashes with O(log n) lookups
(:mod:`backchannel.log.tree`), never by loading every leaf.

Every adapter (memory, SQLite, later PostgreSQL) passes the same suite,
:class:`backchannel.testing.contracts.EventStoreContract`.

This module does not compute hashes or sign anything: the writer
(:mod:`backchannel.service.log`) builds a batch; the store persists it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from backchannel.errors import EncodingError, VerificationError
from backchannel.log import tree
from backchannel.log.canonical import parse_canonical
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.merkle import leaf_hash
from backchannel.log.records import LogEntry, SignedEvent, commitment
from backchannel.log.tree import CompactRange, NodeId

__all__ = ["AppendBatch", "EventStore", "StoredAnnex", "StoredCosignature", "StoredEntry", "TrackInfo"]


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """A track's identity in the store.

    Attributes:
        track: The track id.
        origin: The checkpoint origin line for this track's log.
        log_key: The log's note verifier key (``name+hash+base64``).
        size: The number of entries appended so far.
    """

    track: str
    origin: str
    log_key: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One log entry exactly as stored (bytes, not yet verified).

    Attributes:
        seq: The log index (from the store's key, not from the bytes).
        signed_bytes: The canonical signed-event bytes.
        salt: The leaf salt.
        leaf_hash: The stored level-0 node hash.
    """

    seq: int
    signed_bytes: bytes
    salt: bytes
    leaf_hash: bytes

    def decode(self) -> LogEntry:
        """Parse the stored bytes into a :class:`LogEntry`.

        Raises:
            VerificationError: the bytes are not a canonical, well-formed signed
                event, or its ``seq`` differs from where it is stored.
        """
        try:
            signed = SignedEvent.from_dict(parse_canonical(self.signed_bytes))
            entry = LogEntry(signed=signed, salt=self.salt)
        except EncodingError as e:
            raise VerificationError(
                f"entry {self.seq}: stored event is malformed: {e}", index=self.seq
            ) from e
        if signed.event.seq != self.seq:
            raise VerificationError(
                f"entry {self.seq}: stored event claims seq {signed.event.seq}", index=self.seq
            )
        return entry

    def computed_leaf_hash(self) -> bytes:
        """The leaf hash recomputed from the stored bytes and salt."""
        return leaf_hash(commitment(self.salt, self.signed_bytes))


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """What one atomic append writes.

    Attributes:
        track: The track id.
        entries: The new entries, with consecutive ``seq`` starting at the
            expected size.
        nodes: Every perfect-subtree node the entries completed
            (:meth:`CompactRange.extend` output), leaves included.
        checkpoint: The log's signed checkpoint for the new size.
    """

    track: str
    entries: Sequence[LogEntry]
    nodes: Sequence[tuple[NodeId, bytes]]
    checkpoint: SignedCheckpoint


@dataclass(frozen=True, slots=True)
class StoredAnnex:
    """An annex blob as stored: content-addressed, with who uploaded it.

    Attributes:
        digest: SHA-256 of ``data`` (the store computes it).
        data: The bytes, exactly as uploaded (usually a sealed annex).
        uploaders: The parties that uploaded these bytes, in the order of their first upload.
    """

    digest: bytes
    data: bytes
    uploaders: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """A witness's cosignature of one checkpoint, as stored (ADR-0019).

    The store keeps it beside the checkpoint, never inside the log-signed note:
    the service verified it before storing it, and readers verify it again.

    Attributes:
        size: The size of the checkpoint it cosigns.
        cosigner: The cosigner's name (the witness member id).
        timestamp: The cosignature's timestamp (POSIX seconds).
        line: The C2SP signature line, ``— <name> <base64>``.
    """

    size: int
    cosigner: str
    timestamp: int
    line: str


@dataclass(frozen=True, slots=True)
class StoredSplitView:
    """A witness's split-view alarm: two checkpoints signed by the log key that cannot both be true.

    The service checked, before storing it, that both notes carry the log's
    signature and that at least one is not a checkpoint of the log it holds
    (so the log key signed a fork). Readers verify the notes again.

    Attributes:
        reporter: The witness member that reported it.
        reported: When the service accepted it (POSIX seconds).
        old_note: The checkpoint the witness had cosigned, as a signed note.
        new_note: The conflicting checkpoint it was shown, as a signed note.
        reason: What the service found (which note is off its log, and why).
    """

    reporter: str
    reported: int
    old_note: str
    new_note: str
    reason: str


class EventStore(ABC):
    """Persistence port for track logs. Implementations: memory, SQLite."""

    # --- tracks -----------------------------------------------------------
    @abstractmethod
    def create_track(self, track: str, origin: str, log_key: str) -> TrackInfo:
        """Register a new, empty track.

        Raises:
            ConflictError: the track exists.
        """

    @abstractmethod
    def get_track(self, track: str) -> TrackInfo:
        """Return a track's info.

        Raises:
            NotFoundError: unknown track.
        """

    @abstractmethod
    def list_tracks(self) -> list[TrackInfo]:
        """Return every track, ordered by id."""

    # --- writes -----------------------------------------------------------
    @abstractmethod
    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Atomically persist a batch, its nodes and checkpoint; durable on return.

        Raises:
            NotFoundError: unknown track.
            ConflictError: the track's size is not ``expected_size`` (nothing written).
            ProgrammingError: the batch is inconsistent (wrong seqs, empty, a
                checkpoint size other than the new size).
        """

    def exclusive(self, track: str) -> AbstractContextManager[None]:
        """Keep other writers off ``track`` for a whole load -> decide -> append (ADR-0061).

        The default holds nothing: appends stay optimistic (a stale
        ``expected_size`` is a ``ConflictError``). PostgreSQL holds the track's
        advisory lock and SQLite a lock file per track, so nodes contending for
        one track queue instead of racing.
        """
        del track
        return nullcontext()

    # --- reads ------------------------------------------------------------
    @abstractmethod
    def read(self, track: str, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Yield stored entries with ``start <= seq < stop`` in order (streaming).

        Raises:
            NotFoundError: unknown track.
            ValueError: a negative start or ``stop < start``.
        """

    @abstractmethod
    def get_nodes(self, track: str, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the stored hashes of perfect-subtree nodes, in the order asked.

        Raises:
            NotFoundError: unknown track or a node that is not stored.
        """

    @abstractmethod
    def checkpoints(self, track: str, start_size: int = 0) -> Iterator[SignedCheckpoint]:
        """Yield stored checkpoints with ``size >= start_size`` in size order.

        Raises:
            NotFoundError: unknown track.
        """

    @abstractmethod
    def latest_checkpoint(self, track: str) -> SignedCheckpoint | None:
        """Return the newest checkpoint, or ``None`` for an empty track.

        Raises:
            NotFoundError: unknown track.
        """

    # --- annexes ----------------------------------------------------------
    @abstractmethod
    def put_annex(self, track: str, data: bytes, party: str) -> bool:
        """Store ``data`` under its SHA-256 in ``track``; record ``party`` as an uploader. Durable on return.

        Storing the same bytes again is idempotent: the blob is kept once, and
        each party is recorded once.

        Returns:
            True if ``party`` was not yet recorded as an uploader of these bytes.

        Raises:
            NotFoundError: unknown track.
        """

    @abstractmethod
    def get_annex(self, track: str, digest: bytes) -> StoredAnnex | None:
        """Return the annex stored under ``digest`` in ``track``, or ``None``.

        Raises:
            NotFoundError: unknown track.
        """

    # --- witness cosignatures ----------------------------------------------
    @abstractmethod
    def put_cosignature(self, track: str, cosignature: StoredCosignature) -> bool:
        """Store a cosignature of the checkpoint of size ``cosignature.size``. Durable on return.

        One cosignature is kept per (checkpoint, cosigner): the newest. A
        cosignature with a timestamp newer than the stored one replaces it;
        an equal or older one changes nothing.

        Returns:
            True if it was stored (the first from that cosigner, or newer).

        Raises:
            NotFoundError: unknown track, or no checkpoint of that size.
        """

    @abstractmethod
    def cosignatures(self, track: str, size: int) -> list[StoredCosignature]:
        """The cosignatures stored for the checkpoint of ``size``, ordered by cosigner name.

        Raises:
            NotFoundError: unknown track.
        """

    @abstractmethod
    def latest_cosigned_size(self, track: str, minimum: int = 1) -> int | None:
        """The largest checkpoint size with at least ``minimum`` stored cosignatures, or ``None``.

        Raises:
            NotFoundError: unknown track.
            ValueError: ``minimum`` below 1.
        """

    # --- split-view alarms --------------------------------------------------
    @abstractmethod
    def put_split_view(self, track: str, alarm: StoredSplitView) -> bool:
        """Store a split-view alarm. Durable on return.

        One alarm is kept per (reporter, old note, new note): reporting the same
        evidence again changes nothing.

        Returns:
            True if it was stored (not a repeat).

        Raises:
            NotFoundError: unknown track.
        """

    @abstractmethod
    def split_views(self, track: str) -> list[StoredSplitView]:
        """The split-view alarms of a track, in the order they were stored.

        Raises:
            NotFoundError: unknown track.
        """

    @abstractmethod
    def close(self) -> None:
        """Release resources. Idempotent."""

    # --- derived (shared by every adapter) --------------------------------
    def size(self, track: str) -> int:
        """The number of entries in a track."""
        return self.get_track(track).size

    def frontier(self, track: str) -> CompactRange:
        """The compact range of the whole track (what the next append builds on)."""
        size = self.size(track)
        return CompactRange(size, self.get_nodes(track, tree.perfect_subtrees(size)))

    def node_source(self, track: str) -> tree.NodeSource:
        """A :class:`~backchannel.log.tree.NodeSource` view of one track's nodes."""
        return _TrackNodes(self, track)

    def root(self, track: str, size: int | None = None) -> bytes:
        """The Merkle root of the first ``size`` entries (default: all)."""
        return tree.root_at(self.node_source(track), self.size(track) if size is None else size)

    def inclusion_proof(self, track: str, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        size = self.size(track) if size is None else size
        return tree.inclusion_proof_at(self.node_source(track), index, size)

    def consistency_proof(self, track: str, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof between two sizes of a track's tree."""
        new_size = self.size(track) if new_size is None else new_size
        return tree.consistency_proof_at(self.node_source(track), old_size, new_size)

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        self.close()


@dataclass(frozen=True, slots=True)
class _TrackNodes:
    store: EventStore
    track: str

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        return self.store.get_nodes(self.track, ids)
