"""The SQLite :class:`~backchannel.store.base.EventStore`: the embedded default.

:class:`SQLiteEventStore` keeps every track in one SQLite file (stdlib
:mod:`sqlite3`, no other dependency):

- **Durable appends.** WAL journal, ``synchronous=FULL``: an append that
  returned survives a crash or power loss. One ``BEGIN IMMEDIATE`` write
  transaction per append checks the track's size, inserts the entries, their
  Merkle nodes and the checkpoint (``executemany``), then bumps the size; any
  failure rolls all of it back. A stale ``expected_size`` raises
  :class:`~backchannel.errors.ConflictError`; the primary keys
  ``(track_id, seq)`` and ``(track_id, level, idx)`` are a second guard (an
  ``IntegrityError`` also becomes ``ConflictError``).
- **Numbered migrations.** ``backchannel/store/migrations/NNNN_<what>.sql``
  (synapse-style deltas) are applied in order, in one transaction, when a
  store is opened, and recorded in ``schema_version``. A database from a newer
  schema than this code knows is refused.
- **Bounded-memory reads.** :meth:`SQLiteEventStore.read` and
  :meth:`SQLiteEventStore.checkpoints` fetch fixed-size chunks by key range,
  so a million-entry track streams in constant memory, and no read
  transaction stays open between chunks (which would stop WAL checkpoints).
- **Errors.** ``sqlite3`` errors are wrapped at this seam and chained: busy,
  locked, I/O, full disk → :class:`~backchannel.errors.OperationalError`
  (retry may help); not a database, corrupt, unknown schema →
  :class:`~backchannel.errors.ProgrammingError`.
- **Encryption at rest** (ADR-0057). Given a master key, entries' signed bytes
  and salts and annex data are sealed with per-track data keys
  (:mod:`backchannel.store.encryption`, :mod:`backchannel.store.sealing`);
  reads open them, so callers see plain :class:`StoredEntry` values. Rows
  written before stay readable; a database once encrypted refuses to open
  without its key, and a wrong key fails at open.

Thread safety: a store object owns one connection (opened with
``check_same_thread=False``) and serialises every use of it with an internal
lock, so it may be shared by threads; iterators take the lock per chunk.
Several store objects, in one process or many, may open the same file:
SQLite serialises their writes and a lost race surfaces as ``ConflictError``.

This module does not compute or check hashes beyond the batch validation
shared by every adapter (:func:`~backchannel.store._batch.prepare_batch`),
does not sign, and does not verify what it reads (see
:mod:`backchannel.log.verify`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Self, cast

from backchannel.errors import (
    ConflictError,
    NotFoundError,
    ProgrammingError,
)
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.tree import NodeId
from backchannel.store import _sqlite_sql as sql
from backchannel.store._batch import (
    check_read_range,
    parse_note,
    prepare_batch,
)
from backchannel.store._file_lock import TrackFileLocks
from backchannel.store._sqlite_crypt import SQLiteDataKeys, is_encrypted
from backchannel.store._sqlite_schema import (
    NODE_QUERY_IDS,
    READ_CHUNK,
    Migration,
    connect,
    migrations,
    rollback,
    select_nodes,
    valid_node_id,
    wrap_error,
    write_batch,
)
from backchannel.store.base import (
    AppendBatch,
    EventStore,
    StoredAnnex,
    StoredCosignature,
    StoredEntry,
    StoredSplitView,
    TrackInfo,
)
from backchannel.store.encryption import MasterKey, PayloadCipher
from backchannel.store.sealing import needs_master_key, open_annex, open_entry, seal_annex, seal_entries

__all__ = ["Migration", "SQLiteEventStore", "migrations"]


class SQLiteEventStore(EventStore):
    """An :class:`EventStore` in one SQLite file (WAL, ``synchronous=FULL``).

    Safe to share between threads (one connection behind a lock); several
    store objects may open the same file.

    Args:
        path: The database file (created if missing), or ``":memory:"`` for a
            private, non-durable database (tests).
        busy_timeout: Seconds to wait for another writer's lock before giving
            up with :class:`~backchannel.errors.OperationalError`.
        master_key: Seal payloads at rest with data keys wrapped by this key (ADR-0057).

    Raises:
        ProgrammingError: the file is not a SQLite database, is not a
            backchannel store, or has a newer schema than this code knows.
        OperationalError: the file cannot be opened or stayed locked.
        ConfigurationError: a wrong master key, or none for an encrypted database.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0, master_key: MasterKey | None = None
    ) -> None:
        """Open (creating and migrating if needed) the database at ``path``."""
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._track_ids: dict[str, int] = {}
        memory = self._path == ":memory:" or self._path.startswith("file::memory:")
        self._files = None if memory else TrackFileLocks(self._path)  # ADR-0061
        self._conn: sqlite3.Connection | None = connect(self._path, busy_timeout)
        self._cipher: PayloadCipher | None = None
        try:
            if master_key is not None:
                self._cipher = PayloadCipher(master_key, SQLiteDataKeys(self._transaction, self._fetch))
                self._cipher.check_master_key()
            elif is_encrypted(self._fetch):
                raise needs_master_key(self._path)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, busy_timeout: float = 5.0, master_key: MasterKey | None = None
    ) -> Self:
        """Open a store; the same as the constructor, and a context manager.

        Args:
            path: The database file, or ``":memory:"``.
            busy_timeout: Seconds to wait for another writer's lock.
            master_key: Encrypt payloads at rest with this master key.

        Returns:
            The open store.
        """
        return cls(path, busy_timeout=busy_timeout, master_key=master_key)

    @property
    def path(self) -> str:
        """The database path."""
        return self._path

    @property
    def cipher(self) -> PayloadCipher | None:
        """What seals payloads at rest (``None``: no master key, rows are written in plain text)."""
        return self._cipher

    def rotate_data_key(self, track: str) -> int:
        """Give ``track`` a new data key: later writes use it, older rows still open (ADR-0057).

        Returns:
            The new key's version.

        Raises:
            NotFoundError: unknown track.
            ConfigurationError: no master key.
        """
        self._track_id(track)
        if self._cipher is None:
            raise needs_master_key(f"rotating a data key of {self._path}")
        return self._cipher.rotate(track)

    def __repr__(self) -> str:
        """Show the path and whether the store is open."""
        state = "closed" if self._conn is None else "open"
        return f"SQLiteEventStore({self._path!r}, {state})"

    # --- plumbing ---------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProgrammingError(f"SQLiteEventStore({self._path!r}) is closed")
        return self._conn

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one ``BEGIN IMMEDIATE`` write transaction.

        Commits on success, rolls back on any exception. Driver errors other
        than ``IntegrityError`` (which callers map) become ``StorageError``.
        """
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise wrap_error(e, doing) from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                rollback(conn)
                if isinstance(e, sqlite3.Error) and not isinstance(e, sqlite3.IntegrityError):
                    raise wrap_error(e, doing) from e
                raise

    def _fetch(self, doing: str, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        """Run one read statement under the lock and fetch every row."""
        with self._lock:
            try:
                rows: list[tuple[object, ...]] = self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise wrap_error(e, doing) from e
            return rows

    def _track_row(self, track: str) -> tuple[int, str, str, int]:
        rows = self._fetch(
            f"read track {track!r}", "SELECT id, origin, log_key, size FROM tracks WHERE name = ?", (track,)
        )
        if not rows:
            raise NotFoundError(f"unknown track {track!r}")
        track_id, origin, log_key, size = rows[0]
        assert isinstance(track_id, int)
        assert isinstance(origin, str)
        assert isinstance(log_key, str)
        assert isinstance(size, int)
        self._track_ids[track] = track_id
        return track_id, origin, log_key, size

    def _track_id(self, track: str) -> int:
        # Track ids never change once created, so they are cached.
        track_id = self._track_ids.get(track)
        if track_id is None:
            track_id = self._track_row(track)[0]
        return track_id

    # --- tracks -----------------------------------------------------------
    def create_track(self, track: str, origin: str, log_key: str) -> TrackInfo:
        """Register a new, empty track.

        Raises:
            ConflictError: the track exists.
            OperationalError: the database stayed locked or failed to write.
        """
        try:
            with self._transaction(f"create track {track!r}") as conn:
                cursor = conn.execute(
                    "INSERT INTO tracks (name, origin, log_key) VALUES (?, ?, ?)", (track, origin, log_key)
                )
                track_id = cursor.lastrowid
        except sqlite3.IntegrityError as e:
            raise ConflictError(f"track {track!r} already exists") from e
        assert track_id is not None
        self._track_ids[track] = track_id
        return TrackInfo(track, origin, log_key, 0)

    def get_track(self, track: str) -> TrackInfo:
        """Return a track's info.

        Raises:
            NotFoundError: unknown track.
        """
        _, origin, log_key, size = self._track_row(track)
        return TrackInfo(track, origin, log_key, size)

    def list_tracks(self) -> list[TrackInfo]:
        """Return every track, ordered by id."""
        rows = self._fetch("list tracks", "SELECT name, origin, log_key, size FROM tracks ORDER BY name", ())
        infos = []
        for name, origin, log_key, size in rows:
            assert isinstance(name, str)
            assert isinstance(origin, str)
            assert isinstance(log_key, str)
            assert isinstance(size, int)
            infos.append(TrackInfo(name, origin, log_key, size))
        return infos

    # --- writes -----------------------------------------------------------
    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Atomically and durably persist a batch, its nodes and checkpoint.

        The batch is validated (:func:`~backchannel.store._batch.prepare_batch`)
        and serialised before the write lock is taken; the size is checked
        inside the transaction.

        Raises:
            NotFoundError: unknown track.
            ConflictError: the track's size is not ``expected_size`` (nothing written).
            ProgrammingError: the batch is inconsistent (nothing written).
            OperationalError: the database stayed locked or failed to write
                (nothing written).
        """
        prepared = prepare_batch(batch, expected_size)
        if self._cipher is not None:
            self._track_id(batch.track)  # no data key is made for an unknown track
        rows = seal_entries(self._cipher, prepared)  # before the lock: sealing may store a new data key
        try:
            with self.exclusive(batch.track), self._transaction(f"append to {batch.track!r}") as conn:
                write_batch(conn, prepared, rows)
        except sqlite3.IntegrityError as e:
            # The size check makes this unreachable unless the file was changed
            # behind our back; the primary keys still refuse to overwrite.
            raise ConflictError(
                f"append to {batch.track!r}: rows at positions {expected_size}.. already exist ({e})",
                expected=expected_size,
                actual=self.size(batch.track),
            ) from e

    def exclusive(self, track: str) -> AbstractContextManager[None]:
        """Hold ``track``'s lock file for the block: other processes' and threads' appends wait (ADR-0061)."""
        return nullcontext() if self._files is None else self._files.hold(track)

    # --- reads ------------------------------------------------------------
    def read(self, track: str, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Yield stored entries with ``start <= seq < stop`` in order, streaming.

        The range is fixed when this is called (entries appended later are not
        yielded); entries are fetched ``256`` at a time, each chunk in its own
        short read, so memory stays bounded however long the track.

        Raises:
            NotFoundError: unknown track.
            ValueError: a negative start or ``stop < start``.
            ProgrammingError: (while iterating) an entry inside the range is
                missing: the database was damaged.
        """
        check_read_range(start, stop)
        track_id, _, _, size = self._track_row(track)
        end = size if stop is None else min(stop, size)
        return self._iter_entries(track, track_id, start, end)

    def _iter_entries(self, track: str, track_id: int, start: int, end: int) -> Iterator[StoredEntry]:
        seq = start
        while seq < end:
            upper = min(seq + READ_CHUNK, end)
            rows = self._fetch(f"read track {track!r}", sql.SELECT_ENTRIES, (track_id, seq, upper))
            for row_seq, signed, salt, leaf, key_version in rows:
                if row_seq != seq:
                    break
                assert isinstance(signed, bytes)
                assert isinstance(salt, bytes)
                assert isinstance(leaf, bytes)
                yield StoredEntry(
                    seq, *open_entry(self._cipher, track, seq, (signed, salt, key_version)), leaf
                )
                seq += 1
            if seq != upper:
                raise ProgrammingError(
                    f"track {track!r}: entry {seq} or its leaf hash is missing from the store"
                )

    def get_nodes(self, track: str, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the stored hashes of perfect-subtree nodes, in the order asked.

        Up to 64 distinct ids are fetched per query.

        Raises:
            NotFoundError: unknown track or a node that is not stored.
        """
        track_id = self._track_id(track)
        wanted = [node_id for node_id in dict.fromkeys(ids) if valid_node_id(node_id)]
        found: dict[tuple[object, object], object] = {}
        for first in range(0, len(wanted), NODE_QUERY_IDS):
            chunk = wanted[first : first + NODE_QUERY_IDS]
            params: list[int] = [value for node_id in chunk for value in node_id]
            params.append(track_id)
            rows = self._fetch(f"read nodes of {track!r}", select_nodes(len(chunk)), params)
            found.update(((level, index), node_hash) for level, index, node_hash in rows)
        hashes: list[bytes] = []
        for node_id in ids:
            node_hash = found.get(node_id)
            if not isinstance(node_hash, bytes):
                level, index = node_id
                raise NotFoundError(
                    f"track {track!r}: node (level {level}, index {index}) is not stored "
                    f"(track size {self.size(track)})"
                )
            hashes.append(node_hash)
        return hashes

    def checkpoints(self, track: str, start_size: int = 0) -> Iterator[SignedCheckpoint]:
        """Yield stored checkpoints with ``size >= start_size`` in size order, streaming.

        Like :meth:`read`, the range is fixed when this is called.

        Raises:
            NotFoundError: unknown track.
            VerificationError: (while iterating) a stored note does not parse.
        """
        track_id, _, _, size = self._track_row(track)
        return self._iter_checkpoints(track, track_id, start_size, size)

    def _iter_checkpoints(
        self, track: str, track_id: int, start: int, end: int
    ) -> Iterator[SignedCheckpoint]:
        while True:
            rows = self._fetch(
                f"read checkpoints of {track!r}", sql.SELECT_CHECKPOINTS, (track_id, start, end, READ_CHUNK)
            )
            for size, note in rows:
                assert isinstance(size, int)
                assert isinstance(note, str)
                yield parse_note(track, size, note)
                start = size + 1
            if len(rows) < READ_CHUNK:
                return

    def latest_checkpoint(self, track: str) -> SignedCheckpoint | None:
        """Return the newest checkpoint, or ``None`` for an empty track.

        Raises:
            NotFoundError: unknown track.
            VerificationError: the stored note does not parse.
        """
        track_id = self._track_id(track)
        rows = self._fetch(
            f"read checkpoints of {track!r}",
            "SELECT size, note FROM checkpoints WHERE track_id = ? ORDER BY size DESC LIMIT 1",
            (track_id,),
        )
        if not rows:
            return None
        size, note = rows[0]
        assert isinstance(size, int)
        assert isinstance(note, str)
        return parse_note(track, size, note)

    # --- annexes ----------------------------------------------------------
    def put_annex(self, track: str, data: bytes, party: str) -> bool:
        """Store ``data`` under its SHA-256 and record ``party`` as an uploader, in one transaction.

        Returns:
            True if ``party`` was not yet recorded for these bytes.

        Raises:
            NotFoundError: unknown track.
            OperationalError: the database stayed locked or failed to write.
        """
        digest = hashlib.sha256(data).digest()
        track_id = self._track_id(track)
        stored, key_version = seal_annex(self._cipher, track, digest, data)
        with self._transaction(f"store an annex in {track!r}") as conn:
            conn.execute(sql.INSERT_ANNEX, (track_id, digest, stored, key_version))
            return conn.execute(sql.INSERT_UPLOADER, (track_id, digest, party)).rowcount == 1

    def get_annex(self, track: str, digest: bytes) -> StoredAnnex | None:
        """Return the annex stored under ``digest``, or ``None``.

        Raises:
            NotFoundError: unknown track.
        """
        track_id = self._track_id(track)
        with self._lock:
            try:
                conn = self._connection()
                row = conn.execute(sql.SELECT_ANNEX, (track_id, digest)).fetchone()
                parties = conn.execute(sql.SELECT_UPLOADERS, (track_id, digest)).fetchall()
            except sqlite3.Error as e:
                raise wrap_error(e, f"read an annex of {track!r}") from e
        if row is None:
            return None
        data, key_version = row
        assert isinstance(data, bytes)
        data = open_annex(self._cipher, track, digest, data, key_version)
        return StoredAnnex(digest, data, tuple(str(party) for (party,) in parties))

    # --- witness cosignatures ----------------------------------------------
    def put_cosignature(self, track: str, cosignature: StoredCosignature) -> bool:
        """Keep the newest cosignature per (checkpoint, cosigner), in one transaction.

        Returns:
            True if stored (the first from that cosigner for that size, or newer).

        Raises:
            NotFoundError: unknown track, or no checkpoint of that size.
            OperationalError: the database stayed locked or failed to write.
        """
        track_id = self._track_id(track)
        c = cosignature
        with self._transaction(f"store a cosignature in {track!r}") as conn:
            found = conn.execute(
                "SELECT 1 FROM checkpoints WHERE track_id = ? AND size = ?", (track_id, c.size)
            ).fetchone()
            if found is None:
                raise NotFoundError(f"track {track!r} has no checkpoint of size {c.size}")
            cursor = conn.execute(sql.UPSERT_COSIGNATURE, (track_id, c.size, c.cosigner, c.timestamp, c.line))
            return cursor.rowcount == 1

    def cosignatures(self, track: str, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by cosigner name.

        Raises:
            NotFoundError: unknown track.
        """
        track_id = self._track_id(track)
        rows = self._fetch(f"read cosignatures of {track!r}", sql.SELECT_COSIGNATURES, (track_id, size))
        found = []
        for row_size, cosigner, timestamp, line in rows:
            assert isinstance(row_size, int)
            assert isinstance(cosigner, str)
            assert isinstance(timestamp, int)
            assert isinstance(line, str)
            found.append(StoredCosignature(row_size, cosigner, timestamp, line))
        return found

    def latest_cosigned_size(self, track: str, minimum: int = 1) -> int | None:
        """The largest checkpoint size with at least ``minimum`` cosignatures, or ``None``.

        Raises:
            NotFoundError: unknown track.
            ValueError: ``minimum`` below 1.
        """
        if minimum < 1:
            raise ValueError("latest_cosigned_size: minimum must be at least 1")
        track_id = self._track_id(track)
        rows = self._fetch(f"read cosignatures of {track!r}", sql.SELECT_COSIGNED_SIZE, (track_id, minimum))
        if not rows:
            return None
        (size,) = rows[0]
        assert isinstance(size, int)
        return size

    # --- split-view alarms --------------------------------------------------
    def put_split_view(self, track: str, alarm: StoredSplitView) -> bool:
        """Keep one alarm per (reporter, old note, new note), in one transaction.

        Raises:
            NotFoundError: unknown track.
            OperationalError: the database stayed locked or failed to write.
        """
        track_id = self._track_id(track)
        a = alarm
        with self._transaction(f"store a split-view alarm of {track!r}") as conn:
            row = (track_id, a.reporter, a.reported, a.old_note, a.new_note, a.reason)
            return conn.execute(sql.INSERT_SPLIT_VIEW, row).rowcount == 1

    def split_views(self, track: str) -> list[StoredSplitView]:
        """The alarms, in the order they were stored.

        Raises:
            NotFoundError: unknown track.
        """
        track_id = self._track_id(track)
        rows = self._fetch(f"read split-view alarms of {track!r}", sql.SELECT_SPLIT_VIEWS, (track_id,))
        return [StoredSplitView(str(r), cast("int", t), str(o), str(n), str(why)) for r, t, o, n, why in rows]

    def raise_replay_mark(self, track: str, key_id: str, created: int) -> None:
        """Keep ``created`` (Unix seconds) as ``key_id``'s replay mark on ``track`` if it is later (ADR-0024).

        Raises:
            OperationalError: the database stayed locked or failed to write.
        """
        with self._transaction(f"keep a replay mark of {track!r}") as conn:
            conn.execute(sql.UPSERT_REPLAY_MARK, (track, key_id, created))

    def replay_marks(self, since: int) -> dict[tuple[str, str], int]:
        """Every replay mark at or after ``since`` (Unix seconds); older ones are deleted.

        Returns:
            ``(track, key id) -> created``.

        Raises:
            OperationalError: the database stayed locked or failed.
        """
        with self._transaction("read the replay marks") as conn:
            conn.execute("DELETE FROM replay_marks WHERE created < ?", (since,))
            rows = conn.execute("SELECT track, key_id, created FROM replay_marks").fetchall()
        return {(str(track), str(key_id)): int(created) for track, key_id, created in rows}

    def quick_check(self, *, full: bool = False) -> list[str]:
        """SQLite's own check of the file: ``PRAGMA quick_check`` (``integrity_check`` with ``full``).

        Returns:
            The problems SQLite reports (empty: the file is sound), at most 20.

        Raises:
            StorageError: SQLite could not even run the check (a header it cannot read).
        """
        pragma = "integrity_check" if full else "quick_check"
        rows = self._fetch(f"run PRAGMA {pragma}", f"PRAGMA {pragma}(20)", ())
        problems = [str(row[0]) for row in rows]
        return [] if problems == ["ok"] else problems

    def close(self) -> None:
        """Close the connection. Idempotent; later calls raise ``ProgrammingError``."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
