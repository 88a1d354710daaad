"""The SQLite store's schema and connection: numbered migrations, pragmas, batch writes.

:func:`migrations` lists the deltas shipped in ``backchannel/store/migrations``;
:func:`connect` opens a connection, configures it (WAL, ``synchronous=FULL``)
and applies the pending migrations in one transaction; :func:`write_batch`
inserts a prepared batch; :func:`wrap_error` turns a ``sqlite3`` error into
ours. :class:`~backchannel.store.sqlite.SQLiteEventStore` is built on them.

This module does not hold a connection of its own or a lock.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import sqlite3
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

from backchannel.errors import (
    NotFoundError,
    OperationalError,
    ProgrammingError,
    StorageError,
)
from backchannel.log.tree import NodeId
from backchannel.store._batch import (
    PreparedBatch,
    check_origin,
    size_conflict,
)

__all__ = [
    "NODE_QUERY_IDS",
    "READ_CHUNK",
    "Migration",
    "connect",
    "migrations",
    "rollback",
    "select_nodes",
    "valid_node_id",
    "wrap_error",
    "write_batch",
]

_MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")

# sqlite3's statement cache is per connection. The store runs about a dozen
# fixed statements plus one node lookup per batch size (1..64): 128 holds all.
_CACHED_STATEMENTS = 128

# Ids per node lookup query: proofs of trees up to 2^32 leaves need fewer.
NODE_QUERY_IDS = 64

# Rows per chunk when streaming entries or checkpoints: bounds memory per read.
READ_CHUNK = 256

# Primary result codes (https://sqlite.org/rescode.html) that are transient or
# environmental: retrying, freeing disk or fixing permissions may help.
_OPERATIONAL_CODES = frozenset(
    {
        3,  # SQLITE_PERM
        5,  # SQLITE_BUSY
        6,  # SQLITE_LOCKED
        7,  # SQLITE_NOMEM
        8,  # SQLITE_READONLY
        9,  # SQLITE_INTERRUPT
        10,  # SQLITE_IOERR
        13,  # SQLITE_FULL
        14,  # SQLITE_CANTOPEN
        15,  # SQLITE_PROTOCOL
    }
)
_SQLITE_NOTADB = 26

_SCHEMA_VERSION_DDL = """
CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


_INSERT_ENTRY = "INSERT INTO entries (track_id, seq, signed, salt, key_version) VALUES (?, ?, ?, ?, ?)"

_INSERT_NODE = "INSERT INTO nodes (track_id, level, idx, hash) VALUES (?, ?, ?, ?)"

_INSERT_CHECKPOINT = "INSERT INTO checkpoints (track_id, size, note) VALUES (?, ?, ?)"


# --- migrations -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema delta shipped with the package.

    Attributes:
        version: The delta's number (1, 2, ...).
        name: The file name, e.g. ``0001_init.sql``.
        sql: The SQL statements.
    """

    version: int
    name: str
    sql: str


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Load the schema deltas shipped in ``backchannel/store/migrations``, in order.

    Returns:
        Every ``NNNN_<what>.sql`` file, numbered 1, 2, ... without gaps.

    Raises:
        ProgrammingError: the numbering has a gap or a duplicate (a packaging bug).
    """
    folder = importlib.resources.files("backchannel.store").joinpath("migrations")
    found: list[Migration] = []
    for item in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(item.name)
        if match:
            found.append(Migration(int(match[1]), item.name, item.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: (migration.version, migration.name))
    for number, migration in enumerate(found, start=1):
        if migration.version != number:
            raise ProgrammingError(
                f"schema migrations must be numbered 0001, 0002, ... without gaps or duplicates; "
                f"found {migration.name} where {number:04d}_*.sql was expected"
            )
    return tuple(found)


def statements(script: str) -> Iterator[str]:
    """Split a SQL script into complete statements (``executescript`` would commit)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    leftover = "\n".join(
        line for line in pending.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if leftover:
        raise ProgrammingError(f"schema migration ends with an incomplete statement: {leftover[:80]!r}")


# --- error mapping --------------------------------------------------------
def wrap_error(error: sqlite3.Error, doing: str) -> StorageError:
    """Map a driver error to ours (the caller chains it with ``from``)."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    message = f"SQLite failed to {doing}: {error}"
    if primary == _SQLITE_NOTADB:
        return ProgrammingError(f"SQLite failed to {doing}: the file is not a SQLite database ({error})")
    if primary in _OPERATIONAL_CODES or (primary is None and isinstance(error, sqlite3.OperationalError)):
        return OperationalError(message)
    return ProgrammingError(message)


def rollback(conn: sqlite3.Connection) -> None:
    # Best effort: the original error is what the caller needs to see, and
    # SQLite rolls back by itself when the connection closes.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def user_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def schema_version(conn: sqlite3.Connection, where: str) -> int:
    """Read the applied schema version (0 for an empty database).

    Raises:
        ProgrammingError: a database that is not ours, or from a newer schema.
    """
    tables = user_tables(conn)
    if "schema_version" not in tables:
        if tables:
            raise ProgrammingError(
                f"{where} is a SQLite database but not a backchannel store "
                f"(no schema_version table; it holds {sorted(tables)[:5]})"
            )
        return 0
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    known = len(migrations())
    if version > known:
        raise ProgrammingError(
            f"{where} has schema version {version}, newer than this code knows ({known}); "
            "upgrade backchannel to open it"
        )
    return int(version)


def migrate(conn: sqlite3.Connection, where: str) -> None:
    """Bring the schema up to date: every missing delta, in one write transaction."""
    if schema_version(conn, where) == len(migrations()):
        return  # the common case: no write lock taken
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn, where)  # again, under the write lock: another opener may have won
        if version == 0 and "schema_version" not in user_tables(conn):
            conn.execute(_SCHEMA_VERSION_DDL)
        for migration in migrations()[version:]:
            for statement in statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def configure(conn: sqlite3.Connection, where: str) -> None:
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal" and not (where == ":memory:" and mode == "memory"):
        raise OperationalError(f"{where}: cannot use WAL journal mode (SQLite kept {mode!r})")
    # In WAL mode, synchronous=NORMAL syncs the WAL only when it is checkpointed
    # into the database, not at each commit: the database stays consistent, but
    # a power loss can roll back commits that already returned. FULL syncs the
    # WAL at every commit, so a returned append is durable.
    conn.execute("PRAGMA synchronous = FULL")
    # On macOS plain fsync does not reach the platter; F_FULLFSYNC does. A no-op elsewhere.
    conn.execute("PRAGMA fullfsync = ON")
    conn.execute("PRAGMA foreign_keys = ON")


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open, configure and migrate a connection.

    Raises:
        ProgrammingError: not a SQLite database, not ours, or a newer schema.
        OperationalError: cannot open the file, or it stayed locked.
    """
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,  # the busy timeout: how long to wait for another writer
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # shared between threads under the store's lock
            cached_statements=_CACHED_STATEMENTS,
        )
    except sqlite3.Error as e:
        raise wrap_error(e, f"open {path}") from e
    try:
        configure(conn, path)
        migrate(conn, path)
    except sqlite3.Error as e:
        conn.close()
        raise wrap_error(e, f"open {path}") from e
    except BaseException:
        conn.close()
        raise
    return conn


def write_batch(
    conn: sqlite3.Connection, prepared: PreparedBatch, entries: list[tuple[int, bytes, bytes, int | None]]
) -> None:
    """Check the track's size and write a validated batch (inside a write transaction).

    ``entries`` are the batch's entry rows as stored: ``(seq, signed, salt,
    key_version)``, sealed unless ``key_version`` is ``None`` (ADR-0057).
    """
    track = prepared.track
    row = conn.execute("SELECT id, origin, size FROM tracks WHERE name = ?", (track,)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown track {track!r}")
    track_id, origin, actual = row
    if actual != prepared.expected_size:
        raise size_conflict(track, prepared.expected_size, actual)
    check_origin(track, origin, prepared.checkpoint)
    conn.executemany(_INSERT_ENTRY, [(track_id, *row) for row in entries])
    conn.executemany(_INSERT_NODE, [(track_id, level, index, h) for level, index, h in prepared.nodes])
    conn.execute(_INSERT_CHECKPOINT, (track_id, prepared.new_size, prepared.checkpoint.to_text()))
    conn.execute("UPDATE tracks SET size = ? WHERE id = ?", (prepared.new_size, track_id))


@functools.cache
def select_nodes(count: int) -> str:
    values = ", ".join(["(?, ?)"] * count)
    # Only placeholders are interpolated: the values are bound parameters.
    return (
        f"WITH wanted (level, idx) AS (VALUES {values})"  # noqa: S608
        " SELECT n.level, n.idx, n.hash FROM wanted"
        " JOIN nodes AS n ON n.track_id = ? AND n.level = wanted.level AND n.idx = wanted.idx"
    )


def valid_node_id(node_id: NodeId) -> bool:
    level, index = node_id
    return 0 <= level < 64 and 0 <= index < 1 << 63
