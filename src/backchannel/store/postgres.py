"""The PostgreSQL :class:`~backchannel.store.base.EventStore`: one database shared by several nodes.

:class:`PostgresEventStore` keeps every track in one PostgreSQL schema (the
first on the connection's ``search_path``), through psycopg 3 and a
:class:`psycopg_pool.ConnectionPool` (ADR-0056):

- **Serialised appends per track, parallel across tracks (ADR-0055).** One
  READ COMMITTED transaction per append takes the track's transaction-scoped
  advisory lock (``pg_advisory_xact_lock`` on a 64-bit hash of the schema and
  track name), then checks the track's size, inserts the entries, their Merkle
  nodes (``unnest`` of arrays: one statement each) and the checkpoint, and
  bumps the size. Appends to one track from any number of nodes queue on the
  lock; a stale ``expected_size`` raises
  :class:`~backchannel.errors.ConflictError` and writes nothing. The primary
  keys ``(track_id, seq)`` and ``(track_id, level, idx)`` are a second guard.
  Appends to different tracks do not wait for each other. :meth:`exclusive`
  holds the lock across a whole decide-and-append (ADR-0061).
- **Numbered migrations.** ``backchannel/store/migrations_pg/NNNN_<what>.sql``
  mirror the SQLite deltas; they are applied in order, in one transaction under
  a migration advisory lock, when a store is opened, and recorded in
  ``schema_version``. A schema from a newer version than this code knows is refused.
- **Bounded-memory reads.** :meth:`PostgresEventStore.read` and
  :meth:`PostgresEventStore.checkpoints` fetch fixed-size chunks by key range,
  each on a pooled connection for one short statement.
- **Errors.** psycopg errors are wrapped at this seam and chained: an
  unreachable server, a lost connection, a serialization failure or shutdown →
  :class:`~backchannel.errors.OperationalError` (naming the URL without its
  password); a schema that is not ours, or any other SQL error →
  :class:`~backchannel.errors.ProgrammingError`.
- **Encryption at rest** (ADR-0057), as on SQLite. Given a master key, entries'
  signed bytes and salts and annex data are sealed with per-track data keys
  kept wrapped in the schema (:mod:`backchannel.store._pg_crypt`,
  :mod:`backchannel.store.sealing`); reads open them. Rows written before stay
  readable; a schema once encrypted refuses to open without its key, and a
  wrong key fails at open.

Thread safety: every call borrows a connection from the pool for the length of
one statement or transaction, so a store may be shared by threads; several
stores (in one process or on several nodes) may open the same schema.

This module does not compute or check hashes beyond the batch validation
shared by every adapter (:func:`~backchannel.store._batch.prepare_batch`),
does not sign, and does not verify what it reads (see :mod:`backchannel.log.verify`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Self

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from backchannel.errors import ConflictError, NotFoundError, ProgrammingError
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.tree import NodeId
from backchannel.store import _pg_sql as q
from backchannel.store._batch import check_read_range, parse_note, prepare_batch
from backchannel.store._pg_crypt import PostgresDataKeys, is_encrypted
from backchannel.store._pg_lock import HeldLocks
from backchannel.store._pg_schema import (
    READ_CHUNK,
    connect,
    migrations,
    redact,
    schema_problems,
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

__all__ = ["PostgresEventStore", "migrations"]

Connection = psycopg.Connection[tuple[object, ...]]
Rows = list[tuple[object, ...]]


class PostgresEventStore(EventStore):
    """An :class:`EventStore` in one PostgreSQL schema, shared by threads and nodes.

    Args:
        url: A libpq connection URL (``postgresql://user@host:5432/db``) or
            ``key=value`` string. The store uses the first schema on the
            ``search_path`` (pick one with ``?options=-csearch_path%3Dname``).
        min_size: Connections the pool keeps open.
        max_size: The most connections the pool opens (concurrent calls beyond
            it wait up to ``timeout``).
        timeout: Seconds to wait for the server when connecting, and for a
            free pooled connection.
        master_key: Seal payloads at rest with data keys wrapped by this key (ADR-0057).

    Raises:
        OperationalError: the server is unreachable or refused the connection.
        ProgrammingError: a malformed URL, a schema that is not a backchannel
            store, or one from a newer version.
        ConfigurationError: a wrong master key, or none for an encrypted schema.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 10.0,
        master_key: MasterKey | None = None,
    ) -> None:
        """Connect, migrate the schema if needed, open the pool and check the master key."""
        self._url = url
        self._where = redact(url)
        self._track_ids: dict[str, int] = {}
        self._locks = HeldLocks()
        connect(url, timeout)
        pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            open=False,
            name="backchannel-store",
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except psycopg.Error as e:
            pool.close()
            raise wrap_error(e, f"open a connection pool to {self._where}") from e
        self._pool: ConnectionPool[Connection] | None = pool
        self._cipher: PayloadCipher | None = None
        try:
            if master_key is not None:
                self._cipher = PayloadCipher(master_key, PostgresDataKeys(self._transaction, self._fetch))
                self._cipher.check_master_key()
            elif is_encrypted(self._fetch):
                raise needs_master_key(f"the PostgreSQL store {self._where}")
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(
        cls,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 10.0,
        master_key: MasterKey | None = None,
    ) -> Self:
        """Open a store: the constructor (see the class for the arguments), and a context manager."""
        return cls(url, min_size=min_size, max_size=max_size, timeout=timeout, master_key=master_key)

    @property
    def url(self) -> str:
        """The connection URL, with any password replaced by ``***``."""
        return self._where

    @property
    def cipher(self) -> PayloadCipher | None:
        """What seals payloads at rest (``None``: no master key, rows are written in plain text)."""
        return self._cipher

    def rotate_data_key(self, track: str) -> int:
        """Give ``track`` a new data key: later writes (from any node) use it, older rows still open.

        Returns:
            The new key's version.

        Raises:
            NotFoundError: unknown track.
            ConfigurationError: no master key.
        """
        self._track_id(track)
        if self._cipher is None:
            raise needs_master_key(f"rotating a data key of {self._where}")
        return self._cipher.rotate(track)

    def __repr__(self) -> str:
        """Show the URL (without its password) and whether the store is open."""
        state = "closed" if self._pool is None else "open"
        return f"PostgresEventStore({self._where!r}, {state})"

    # --- plumbing ---------------------------------------------------------
    @contextmanager
    def _connection(self, doing: str, track: str | None = None) -> Iterator[Connection]:
        """A pooled connection; for ``track``, the one this thread holds its lock on, if any."""
        pool = self._pool
        if pool is None:
            raise ProgrammingError(f"PostgresEventStore({self._where!r}) is closed")
        held = None if track is None else self._locks.connection(track)
        try:
            if held is not None:
                yield held
                return
            with pool.connection() as conn:
                yield conn
        except (pg_errors.UniqueViolation, pg_errors.SerializationFailure):
            raise  # the caller maps a lost race
        except psycopg.Error as e:
            raise wrap_error(e, f"{doing} ({self._where})") from e

    @contextmanager
    def _transaction(self, doing: str, track: str | None = None) -> Iterator[Connection]:
        """One transaction (see :meth:`_connection`): commits on success, rolls back on any exception."""
        with self._connection(doing, track) as conn, conn.transaction():
            yield conn

    @contextmanager
    def exclusive(self, track: str) -> Iterator[None]:
        """Hold ``track``'s advisory lock for the block; this thread's appends to it run under it (ADR-0061).

        Raises:
            OperationalError: the server is unreachable.
            ProgrammingError: this thread already holds a track.
        """
        with self._connection(f"lock track {track!r}") as conn, self._locks.hold(conn, track):
            yield

    def _fetch(self, doing: str, query: str, params: Sequence[object] | Mapping[str, object]) -> Rows:
        with self._connection(doing) as conn:
            return conn.execute(query, params).fetchall()

    def _track_row(self, track: str) -> tuple[int, str, str, int]:
        rows = self._fetch(
            f"read track {track!r}", "SELECT id, origin, log_key, size FROM tracks WHERE name = %s", (track,)
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
            OperationalError: the server is unreachable or failed to write.
        """
        try:
            with self._transaction(f"create track {track!r}") as conn:
                row = conn.execute(
                    "INSERT INTO tracks (name, origin, log_key) VALUES (%s, %s, %s) RETURNING id",
                    (track, origin, log_key),
                ).fetchone()
        except pg_errors.UniqueViolation as e:
            raise ConflictError(f"track {track!r} already exists") from e
        assert row is not None
        assert isinstance(row[0], int)
        self._track_ids[track] = row[0]
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
        return [
            TrackInfo(str(name), str(origin), str(key), int(str(size))) for name, origin, key, size in rows
        ]

    # --- writes -----------------------------------------------------------
    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Atomically and durably persist a batch, its nodes and checkpoint.

        The batch is validated before a connection is taken; the size is
        checked inside the transaction, under the track's advisory lock.

        Raises:
            NotFoundError: unknown track.
            ConflictError: the track's size is not ``expected_size`` (nothing written).
            ProgrammingError: the batch is inconsistent (nothing written).
            OperationalError: the server is unreachable or failed to write (nothing written).
        """
        prepared = prepare_batch(batch, expected_size)
        if self._cipher is not None:
            self._track_id(batch.track)  # no data key is made for an unknown track
        rows = seal_entries(self._cipher, prepared)  # before the transaction: it may store a new data key
        try:
            with self._transaction(f"append to {batch.track!r}", batch.track) as conn:
                write_batch(conn, prepared, rows)
        except (pg_errors.UniqueViolation, pg_errors.SerializationFailure) as e:
            # The lock and the size check make this unreachable unless rows were
            # written behind our back; the primary keys still refuse to overwrite.
            raise ConflictError(
                f"append to {batch.track!r}: rows at positions {expected_size}.. already exist ({e})",
                expected=expected_size,
                actual=self.size(batch.track),
            ) from e

    # --- reads ------------------------------------------------------------
    def read(self, track: str, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Yield stored entries with ``start <= seq < stop`` in order, streaming.

        The range is fixed when this is called; entries are fetched ``256`` at a time.

        Raises:
            NotFoundError: unknown track.
            ValueError: a negative start or ``stop < start``.
            ProgrammingError: (while iterating) an entry inside the range is missing.
        """
        check_read_range(start, stop)
        track_id, _, _, size = self._track_row(track)
        end = size if stop is None else min(stop, size)
        return self._iter_entries(track, track_id, start, end)

    def _iter_entries(self, track: str, track_id: int, start: int, end: int) -> Iterator[StoredEntry]:
        seq = start
        while seq < end:
            upper = min(seq + READ_CHUNK, end)
            rows = self._fetch(
                f"read track {track!r}", q.SELECT_ENTRIES, {"track": track_id, "start": seq, "stop": upper}
            )
            for row_seq, signed, salt, key_version, leaf in rows:
                if row_seq != seq:
                    break
                assert isinstance(signed, bytes)
                assert isinstance(salt, bytes)
                assert isinstance(leaf, bytes)
                opened = open_entry(self._cipher, track, seq, (signed, salt, key_version))
                yield StoredEntry(seq, *opened, leaf)
                seq += 1
            if seq != upper:
                raise ProgrammingError(
                    f"track {track!r}: entry {seq} or its leaf hash is missing from the store"
                )

    def get_nodes(self, track: str, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the stored hashes of perfect-subtree nodes, in the order asked (one query).

        Raises:
            NotFoundError: unknown track or a node that is not stored.
        """
        track_id = self._track_id(track)
        wanted = [(lv, ix) for lv, ix in dict.fromkeys(ids) if 0 <= lv < 64 and 0 <= ix < 1 << 63]
        found: dict[tuple[object, object], object] = {}
        if wanted:
            params = ([lv for lv, _ in wanted], [ix for _, ix in wanted], track_id)
            rows = self._fetch(f"read nodes of {track!r}", q.SELECT_NODES, params)
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
            params = (track_id, start, end, READ_CHUNK)
            rows = self._fetch(f"read checkpoints of {track!r}", q.SELECT_CHECKPOINTS, params)
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
            "SELECT size, note FROM checkpoints WHERE track_id = %s ORDER BY size DESC LIMIT 1",
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
            OperationalError: the server is unreachable or failed to write.
        """
        digest = hashlib.sha256(data).digest()
        track_id = self._track_id(track)
        stored, key_version = seal_annex(self._cipher, track, digest, data)
        with self._transaction(f"store an annex in {track!r}") as conn:
            conn.execute(q.INSERT_ANNEX, (track_id, digest, stored, key_version))
            return conn.execute(q.INSERT_UPLOADER, (track_id, digest, party)).rowcount == 1

    def get_annex(self, track: str, digest: bytes) -> StoredAnnex | None:
        """Return the annex stored under ``digest``, or ``None``.

        Raises:
            NotFoundError: unknown track.
        """
        track_id = self._track_id(track)
        with self._transaction(f"read an annex of {track!r}") as conn:
            row = conn.execute(q.SELECT_ANNEX, (track_id, digest)).fetchone()
            parties = conn.execute(q.SELECT_UPLOADERS, (track_id, digest)).fetchall()
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
            OperationalError: the server is unreachable or failed to write.
        """
        track_id = self._track_id(track)
        c = cosignature
        with self._transaction(f"store a cosignature in {track!r}") as conn:
            found = conn.execute(
                "SELECT 1 FROM checkpoints WHERE track_id = %s AND size = %s", (track_id, c.size)
            ).fetchone()
            if found is None:
                raise NotFoundError(f"track {track!r} has no checkpoint of size {c.size}")
            cursor = conn.execute(q.UPSERT_COSIGNATURE, (track_id, c.size, c.cosigner, c.timestamp, c.line))
            return cursor.rowcount == 1

    def cosignatures(self, track: str, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by cosigner name.

        Raises:
            NotFoundError: unknown track.
        """
        track_id = self._track_id(track)
        rows = self._fetch(f"read cosignatures of {track!r}", q.SELECT_COSIGNATURES, (track_id, size))
        return [StoredCosignature(int(str(s)), str(c), int(str(t)), str(line)) for s, c, t, line in rows]

    def latest_cosigned_size(self, track: str, minimum: int = 1) -> int | None:
        """The largest checkpoint size with at least ``minimum`` cosignatures, or ``None``.

        Raises:
            NotFoundError: unknown track.
            ValueError: ``minimum`` below 1.
        """
        if minimum < 1:
            raise ValueError("latest_cosigned_size: minimum must be at least 1")
        track_id = self._track_id(track)
        rows = self._fetch(f"read cosignatures of {track!r}", q.SELECT_COSIGNED_SIZE, (track_id, minimum))
        return int(str(rows[0][0])) if rows else None

    # --- split-view alarms --------------------------------------------------
    def put_split_view(self, track: str, alarm: StoredSplitView) -> bool:
        """Keep one alarm per (reporter, old note, new note), in one transaction.

        Raises:
            NotFoundError: unknown track.
            OperationalError: the server is unreachable or failed to write.
        """
        track_id = self._track_id(track)
        a = alarm
        with self._transaction(f"store a split-view alarm of {track!r}") as conn:
            row = (track_id, a.reporter, a.reported, a.old_note, a.new_note, a.reason)
            return conn.execute(q.INSERT_SPLIT_VIEW, row).rowcount == 1

    def split_views(self, track: str) -> list[StoredSplitView]:
        """The alarms, in the order they were stored.

        Raises:
            NotFoundError: unknown track.
        """
        track_id = self._track_id(track)
        rows = self._fetch(f"read split-view alarms of {track!r}", q.SELECT_SPLIT_VIEWS, (track_id,))
        return [StoredSplitView(str(r), int(str(t)), str(o), str(n), str(why)) for r, t, o, n, why in rows]

    # --- replay marks (service.replay.ReplayJournal) ------------------------
    def raise_replay_mark(self, track: str, key_id: str, created: int) -> None:
        """Keep ``created`` (Unix seconds) as ``key_id``'s replay mark on ``track`` if it is later (ADR-0024).

        Raises:
            OperationalError: the server is unreachable or failed to write.
        """
        with self._transaction(f"keep a replay mark of {track!r}") as conn:
            conn.execute(q.UPSERT_REPLAY_MARK, (track, key_id, created))

    def replay_marks(self, since: int) -> dict[tuple[str, str], int]:
        """Every replay mark at or after ``since`` (Unix seconds); older ones are deleted.

        Returns:
            ``(track, key id) -> created``.

        Raises:
            OperationalError: the server is unreachable or failed.
        """
        with self._transaction("read the replay marks") as conn:
            conn.execute("DELETE FROM replay_marks WHERE created < %s", (since,))
            rows = conn.execute("SELECT track, key_id, created FROM replay_marks").fetchall()
        return {(str(track), str(key_id)): int(str(created)) for track, key_id, created in rows}

    # --- integrity ------------------------------------------------------------
    @property
    def check_name(self) -> str:
        """What :meth:`quick_check` is called in messages (the integrity check names it)."""
        return "PostgreSQL schema check"

    def quick_check(self, *, full: bool = False) -> list[str]:
        """A cheap check of the schema: at the expected migration, every table readable.

        Args:
            full: Also count each table's rows (a full scan; the per-track log
                verification is what checks their content).

        Returns:
            The problems found (empty: the schema is sound).

        Raises:
            StorageError: the server could not even run the check.
        """
        with self._connection("check the schema") as conn:
            return schema_problems(conn, full=full)

    def close(self) -> None:
        """Close the pool. Idempotent; later calls raise ``ProgrammingError``."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
