"""The log writer: turns drafts into signed, chained, committed, checkpointed entries.

:class:`LogWriter` is the one place that appends to a track's log:

1. read the track's frontier (O(log n) node hashes) from the store;
2. give each draft its ``seq`` and ``prev`` (the previous leaf hash), stamp
   ``created_at`` from the clock, and have its author's key sign it;
3. salt each entry (fresh 32 random bytes), extend the compact range, and sign
   a checkpoint for the new size with the log key;
4. hand the batch to :meth:`EventStore.append`, which writes it atomically
   with optimistic concurrency (a racing writer gets ``ConflictError``).

This module does not validate negotiation rules (that is ``domain``'s job in
later issues) and does not verify what it reads back (see
:mod:`backchannel.log.verify`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from backchannel.clock import Clock, SystemClock
from backchannel.errors import ConfigurationError, ConflictError
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import Checkpoint, NoteSigner, SignedCheckpoint
from backchannel.log.records import SALT_SIZE, Event, LogEntry, SignedEvent, format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.store.base import AppendBatch, EventStore, TrackInfo

__all__ = ["AppendResult", "Draft", "LogWriter", "default_origin"]


def default_origin(log_name: str, track: str) -> str:
    """The checkpoint origin for a track: ``<log name>/<track>``."""
    return f"{log_name}/{track}"


@dataclass(frozen=True, slots=True)
class Draft:
    """An event to append, before it has a place in the log.

    Attributes:
        type: Dotted event type, past tense.
        author: The member id that signs it.
        body: The JSON object payload.
        key: The author's signing key.
        body_bytes: ``body``'s canonical bytes, when the caller has them (spliced, not recomputed).
    """

    type: str
    author: str
    body: Mapping[str, JSONValue]
    key: SigningKey
    body_bytes: bytes | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append committed: the entries and the signed checkpoint."""

    entries: tuple[LogEntry, ...]
    checkpoint: SignedCheckpoint


class LogWriter:
    """Appends drafts to track logs in a store, signing checkpoints with the log key.

    Args:
        store: Where entries, nodes and checkpoints are persisted.
        signer: The log's checkpoint signer (its note name is the log name).
        clock: The source of ``created_at`` (default: the system clock).
        salts: A source of random bytes for leaf salts (default ``os.urandom``;
            the simulator passes a seeded one).
    """

    def __init__(
        self,
        store: EventStore,
        signer: NoteSigner,
        *,
        clock: Clock | None = None,
        salts: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """Create the writer."""
        self._store = store
        self._signer = signer
        self._clock: Clock = clock or SystemClock()
        self._salts = salts

    @property
    def store(self) -> EventStore:
        """The store written to."""
        return self._store

    @property
    def log_key(self) -> str:
        """The log's verifier key text (pin it to verify exports)."""
        return self._signer.verifier.to_vkey()

    def open_track(self, track: str, origin: str | None = None) -> TrackInfo:
        """Create a new empty track whose checkpoints this writer signs.

        Raises:
            ConflictError: the track exists.
        """
        origin = origin or default_origin(self._signer.name, track)
        return self._store.create_track(track, origin, self.log_key)

    def append(
        self, track: str, drafts: Sequence[Draft], *, expected_size: int | None = None
    ) -> AppendResult:
        """Sign and append drafts as one atomic batch with one checkpoint.

        Args:
            track: The track appended to.
            drafts: The events to append, in order.
            expected_size: The size the caller decided on (a
                :class:`~backchannel.service.tracks.TrackService` state folded up to it). If
                the track has grown since, another writer appended entries the caller has not
                seen and ``ConflictError`` is raised instead of appending after them. ``None``
                appends at whatever size the track has (a caller that decides nothing).

        Raises:
            ValueError: no drafts.
            NotFoundError: unknown track.
            ConfigurationError: the track's checkpoints are signed by another log key.
            EncodingError: a draft is malformed (nothing is written).
            ConflictError: another writer appended first, or the track is not
                ``expected_size`` long (nothing is written).
        """
        if not drafts:
            raise ValueError("append needs at least one draft")
        info = self._store.get_track(track)
        if info.log_key != self.log_key:
            raise ConfigurationError(
                f"track {track!r} is signed by log key {info.log_key}, not this writer's"
            )
        frontier = self._store.frontier(track)
        expected = frontier.size
        if expected_size is not None and expected != expected_size:
            raise ConflictError(
                f"append to {track!r}: decided at size {expected_size}, but the track has {expected} entries "
                "(another writer appended first; reload and decide again)",
                expected=expected_size,
                actual=expected,
            )
        prev = self._last_leaf(track, expected)
        entries: list[LogEntry] = []
        nodes = []
        for offset, draft in enumerate(drafts):
            event = Event(
                track=track,
                seq=expected + offset,
                type=draft.type,
                author=draft.author,
                created_at=format_timestamp(self._clock.now()),
                body=draft.body,
                prev=prev,
                body_bytes=draft.body_bytes,
            )
            entry = LogEntry(signed=SignedEvent.create(event, draft.key), salt=self._salt())
            prev = entry.leaf_hash
            nodes.extend(frontier.append(prev))
            entries.append(entry)
        checkpoint = self._signer.sign(
            Checkpoint(origin=info.origin, size=frontier.size, root=frontier.root())
        )
        self._store.append(AppendBatch(track, entries, nodes, checkpoint), expected_size=expected)
        return AppendResult(tuple(entries), checkpoint)

    def _last_leaf(self, track: str, size: int) -> bytes | None:
        if size == 0:
            return None
        return self._store.get_nodes(track, [(0, size - 1)])[0]

    def _salt(self) -> bytes:
        salt = self._salts(SALT_SIZE)
        if len(salt) != SALT_SIZE:
            raise ConfigurationError(f"salt source returned {len(salt)} bytes, expected {SALT_SIZE}")
        return salt
