"""Copy a data directory's SQLite store into PostgreSQL, then prove the copy equal and sound.

:func:`migrate_store` backs ``backchannel store migrate --from <data-dir> --to postgresql://...``:

1. **Copy.** For every track: the track (origin, log key), its entries re-appended
   with the original batch boundaries and signed checkpoints (each batch through the
   target's ordinary :meth:`~backchannel.store.base.EventStore.append`, so the shared
   batch validation recomputes every leaf and node), the annexes with their uploaders
   in upload order, the witness cosignatures and the split-view alarms; then the
   replay marks. A track the target already holds is resumed when it is a prefix of
   the source (same origin and log key, same root at its size), so an interrupted
   copy can be run again; anything else is refused.
2. **Verify.** For every track: the same size, root, checkpoints (byte-identical
   notes), cosignatures, alarms and annexes as the source, and the log verifier
   (:func:`~backchannel.service.export.verify_store`) passes on the copy.

The log key and node key stay in the data directory: point the service at the copy
with ``backchannel serve --data-dir <data-dir> --store postgresql://...``.

**Encryption at rest** (ADR-0057). With a master key, an encrypted source is
opened with it and the copy is sealed with it (the target's rows are sealed
with the target's own data keys, wrapped by the same master key); a plain
source is read as it is, so giving a key is how a copy turns encryption on.
An encrypted source without a key is refused before anything is copied: a copy
is never less protected than its source.

This module does not delete or change the source.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from backchannel.errors import ConfigurationError, ConflictError, NotFoundError, VerificationError
from backchannel.service.config import Settings, check_store_url
from backchannel.service.export import verify_store
from backchannel.store.base import AppendBatch, EventStore, StoredAnnex, TrackInfo
from backchannel.store.encryption import MasterKeySource
from backchannel.store.postgres import PostgresEventStore
from backchannel.store.sealing import needs_master_key
from backchannel.store.sqlite import SQLiteEventStore

__all__ = ["CopiedTrack", "CopyReport", "copy_store", "migrate_store"]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CopiedTrack:
    """One track as copied and verified.

    Attributes:
        track: The track id.
        size: Its entries.
        root: The Merkle root of all of them (equal in source and copy).
        checkpoints: Signed checkpoints copied.
        annexes: Annex blobs copied.
        cosignatures: Witness cosignatures copied.
        split_views: Split-view alarms copied.
        resumed_at: The size the target already held (0 for a fresh copy).
    """

    track: str
    size: int
    root: bytes
    checkpoints: int
    annexes: int
    cosignatures: int
    split_views: int
    resumed_at: int


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What :func:`copy_store` copied and verified.

    Attributes:
        tracks: Each track, in id order.
        replay_marks: Replay marks copied.
    """

    tracks: tuple[CopiedTrack, ...]
    replay_marks: int


def migrate_store(
    data_dir: Path,
    url: str,
    *,
    master_key: MasterKeySource | None = None,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy the SQLite store of ``data_dir`` into the PostgreSQL store at ``url`` and verify the copy.

    Args:
        data_dir: The data directory (left unchanged).
        url: The PostgreSQL store.
        master_key: Opens an encrypted source and seals the copy (``None``: plain copy of a plain source).
        progress: Called with a line per step.

    Raises:
        ConfigurationError: ``data_dir`` has no store, ``url`` is not a PostgreSQL URL, or a master
            key is missing (an encrypted source or target), wrong or unreadable.
        ConflictError: the target holds a track that is not a prefix of the source's.
        VerificationError: the copy differs from the source or does not verify.
        StorageError: either store failed.
    """
    check_store_url(url)
    settings = Settings(data_dir=data_dir)
    if not settings.database.exists():
        raise ConfigurationError(f"--from {data_dir}: no SQLite store at {settings.database}")
    master = master_key.load() if master_key is not None else None
    encrypted = _is_encrypted(settings.database)
    if encrypted and master is None:
        raise needs_master_key(f"--from {data_dir}")
    # A plain source is opened without the key: opening it with one would turn encryption on in it.
    with (
        SQLiteEventStore(settings.database, master_key=master if encrypted else None) as source,
        PostgresEventStore(url, master_key=master) as target,
    ):
        return copy_store(source, target, progress=progress)


def _is_encrypted(database: Path) -> bool:
    """Whether the SQLite file was ever opened with a master key (read-only: the source stays as it is)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        try:
            return conn.execute("SELECT 1 FROM master_key_check").fetchone() is not None
        except sqlite3.OperationalError:  # no such table: a store from before encryption at rest
            return False


def copy_store(
    source: SQLiteEventStore, target: PostgresEventStore, *, progress: Progress | None = None
) -> CopyReport:
    """Copy every track and the replay marks of ``source`` into ``target``, then verify each track.

    Raises:
        ConflictError: the target holds a track that is not a prefix of the source's.
        VerificationError: the copy differs from the source or does not verify.
    """
    say = progress or (lambda _: None)
    digests = _annex_digests(source)
    copied = []
    for info in source.list_tracks():
        say(f"copying {info.track} ({info.size} entries)")
        resumed_at = _copy_track(source, target, info, digests.get(info.track, []))
        say(f"verifying {info.track}")
        copied.append(_verify_track(source, target, info, digests.get(info.track, []), resumed_at))
    marks = source.replay_marks(0)
    for (track, key_id), created in marks.items():
        target.raise_replay_mark(track, key_id, created)
    if {k: v for k, v in target.replay_marks(0).items() if k in marks} != marks:
        raise VerificationError("the copied replay marks differ from the source's")
    return CopyReport(tuple(copied), len(marks))


def _annex_digests(source: SQLiteEventStore) -> dict[str, list[bytes]]:
    """Every annex digest per track, in upload order (the port reads an annex only by its digest)."""
    query = "SELECT t.name, a.digest FROM annexes AS a JOIN tracks AS t ON t.id = a.track_id ORDER BY a.rowid"
    with closing(sqlite3.connect(f"file:{source.path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(query).fetchall()
    found: dict[str, list[bytes]] = {}
    for track, digest in rows:
        found.setdefault(str(track), []).append(bytes(digest))
    return found


def _resume_point(source: EventStore, target: EventStore, info: TrackInfo) -> int:
    """The size the target already holds of this track (creating it if missing)."""
    try:
        held = target.get_track(info.track)
    except NotFoundError:
        target.create_track(info.track, info.origin, info.log_key)
        return 0
    if (held.origin, held.log_key) != (info.origin, info.log_key) or held.size > info.size:
        raise ConflictError(
            f"track {info.track!r} exists in the target with another origin, log key or a longer log; "
            "refusing to merge two logs"
        )
    if held.size and target.root(info.track) != source.root(info.track, held.size):
        raise ConflictError(
            f"track {info.track!r} exists in the target with {held.size} entries "
            "that differ from the source's"
        )
    return held.size


def _copy_track(source: EventStore, target: EventStore, info: TrackInfo, digests: list[bytes]) -> int:
    track = info.track
    resumed_at = _resume_point(source, target, info)
    frontier = target.frontier(track)
    size = resumed_at
    for checkpoint in source.checkpoints(track, resumed_at + 1):
        new_size = checkpoint.checkpoint.size
        entries = [stored.decode() for stored in source.read(track, size, new_size)]
        nodes = frontier.extend(entry.leaf_hash for entry in entries)
        target.append(AppendBatch(track, entries, nodes, checkpoint), expected_size=size)
        size = new_size
    for digest in digests:
        annex = source.get_annex(track, digest)
        if annex is None:
            raise VerificationError(f"track {track!r}: annex {digest.hex()} is listed but cannot be read")
        for party in annex.uploaders:
            target.put_annex(track, annex.data, party)
    for checkpoint in source.checkpoints(track):
        for cosignature in source.cosignatures(track, checkpoint.checkpoint.size):
            target.put_cosignature(track, cosignature)
    for alarm in source.split_views(track):
        target.put_split_view(track, alarm)
    return resumed_at


def _verify_track(
    source: EventStore, target: EventStore, info: TrackInfo, digests: list[bytes], resumed_at: int
) -> CopiedTrack:
    track = info.track

    def differ(what: str) -> VerificationError:
        return VerificationError(f"track {track!r}: the copy's {what} differ from the source's")

    if target.size(track) != info.size or target.root(track) != source.root(track):
        raise differ("size or root")
    notes = [c.to_text() for c in source.checkpoints(track)]
    if [c.to_text() for c in target.checkpoints(track)] != notes:
        raise differ("checkpoints")
    sizes = [c.checkpoint.size for c in source.checkpoints(track)]
    cosigned = [source.cosignatures(track, s) for s in sizes]
    if [target.cosignatures(track, s) for s in sizes] != cosigned:
        raise differ("cosignatures")
    if target.split_views(track) != source.split_views(track):
        raise differ("split-view alarms")
    annexes: list[StoredAnnex | None] = [source.get_annex(track, d) for d in digests]
    if [target.get_annex(track, d) for d in digests] != annexes:
        raise differ("annexes")
    if info.size:
        verify_store(target, track, info.log_key)
    return CopiedTrack(
        track=track,
        size=info.size,
        root=target.root(track),
        checkpoints=len(notes),
        annexes=len(digests),
        cosignatures=sum(len(c) for c in cosigned),
        split_views=len(target.split_views(track)),
        resumed_at=resumed_at,
    )
