"""The PostgreSQL store's schema and plumbing: numbered migrations, error mapping, batch writes.

:func:`migrations` lists the deltas shipped in ``backchannel/store/migrations_pg``
(the PostgreSQL twins of the SQLite deltas); :func:`connect` opens one
connection and applies the pending migrations in one transaction, under an
advisory lock so that two nodes starting together do not both migrate;
:func:`write_batch` checks a track's size under the track's advisory lock and
inserts a prepared batch (ADR-0055); :func:`wrap_error` turns a psycopg error
into ours; :func:`redact` shows a connection URL without its password.
:class:`~backchannel.store.postgres.PostgresEventStore` is built on them.

This module does not hold a pool of its own or a lock.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from backchannel.errors import NotFoundError, OperationalError, ProgrammingError, StorageError
from backchannel.store._batch import PreparedBatch, check_origin, size_conflict
from backchannel.store._sqlite_schema import Migration
from backchannel.store.sealing import EntryValues

__all__ = [
    "READ_CHUNK",
    "TABLES",
    "connect",
    "migrations",
    "redact",
    "schema_version",
    "wrap_error",
    "write_batch",
]

_MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")

# Rows per chunk when streaming entries or checkpoints: bounds memory per read.
READ_CHUNK = 256

# Every table the migrations create, in creation order (the integrity check reads each).
TABLES = (
    "tracks",
    "entries",
    "nodes",
    "checkpoints",
    "annexes",
    "annex_uploaders",
    "cosignatures",
    "replay_marks",
    "split_views",
    "master_key_check",
    "data_keys",
    "delivery_leases",
    "delivery_versions",
    "delivery_heartbeats",
    "replay_nonces",
    "work_leases",
)

# SQLSTATE classes where a retry, a restart or more resources may help:
# 08 connection, 40 transaction rollback (serialization, deadlock), 53
# insufficient resources, 57 operator intervention (shutdown, cancel), 58 system error.
_OPERATIONAL_CLASSES = frozenset({"08", "40", "53", "57", "58"})

_SCHEMA_VERSION_DDL = """
CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

# Advisory lock keys are 64-bit hashes of a name within the current schema, so
# stores in different schemas of one database never wait for each other.
_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('backchannel.migrate:' || current_schema(), 0))"
)
_TRACK_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('backchannel.track:' || current_schema() || ':' || %s, 0))"
)
_INSERT_ENTRIES = (
    "INSERT INTO entries (track_id, seq, signed, salt, key_version)"
    " SELECT %s, * FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[], %s::integer[])"
)
_INSERT_NODES = (
    "INSERT INTO nodes (track_id, level, idx, hash)"
    " SELECT %s, * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
)
_INSERT_CHECKPOINT = "INSERT INTO checkpoints (track_id, size, note) VALUES (%s, %s, %s)"


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Load the schema deltas shipped in ``backchannel/store/migrations_pg``, in order.

    Returns:
        Every ``NNNN_<what>.sql`` file, numbered 1, 2, ... without gaps.

    Raises:
        ProgrammingError: the numbering has a gap or a duplicate (a packaging bug).
    """
    folder = importlib.resources.files("backchannel.store").joinpath("migrations_pg")
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


def redact(url: str) -> str:
    """The connection URL (or ``key=value`` string) with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hosts = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:***@{hosts}" if ":" in userinfo else netloc
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)


def wrap_error(error: psycopg.Error, doing: str) -> StorageError:
    """Map a driver error to ours (the caller chains it with ``from``)."""
    message = f"PostgreSQL failed to {doing}: {error}".strip()
    state = error.sqlstate or ""
    if isinstance(error, psycopg.OperationalError) or state[:2] in _OPERATIONAL_CLASSES:
        return OperationalError(message)
    return ProgrammingError(message)


def schema_version(conn: psycopg.Connection[tuple[object, ...]], where: str) -> int:
    """Read the applied schema version (0 for an empty schema).

    Raises:
        ProgrammingError: no schema to use, a schema that is not ours, or a newer one.
    """
    row = conn.execute(
        "SELECT current_schema(), to_regclass('schema_version') IS NOT NULL,"
        " (SELECT array_agg(table_name::text ORDER BY table_name) FROM information_schema.tables"
        "  WHERE table_schema = current_schema())"
    ).fetchone()
    assert row is not None
    schema, versioned, tables = row
    if schema is None:
        raise ProgrammingError(
            f"{where}: no schema on the search_path exists (create it, or fix options=-csearch_path=...)"
        )
    if not versioned:
        if tables:
            assert isinstance(tables, list)
            raise ProgrammingError(
                f"{where}: schema {schema!r} is not a backchannel store "
                f"(no schema_version table; it holds {tables[:5]})"
            )
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    assert found is not None
    version = int(str(found[0]))
    known = len(migrations())
    if version > known:
        raise ProgrammingError(
            f"{where} has schema version {version}, newer than this code knows ({known}); "
            "upgrade backchannel to open it"
        )
    return version


def migrate(conn: psycopg.Connection[tuple[object, ...]], where: str) -> None:
    """Bring the schema up to date: every missing delta, in one transaction under the migration lock."""
    if schema_version(conn, where) == len(migrations()):
        return  # the common case: no lock taken
    with conn.transaction():
        conn.execute(_MIGRATION_LOCK)
        version = schema_version(conn, where)  # again, under the lock: another node may have won
        if version == 0:
            conn.execute(_SCHEMA_VERSION_DDL)
        for migration in migrations()[version:]:
            conn.execute(migration.sql.encode())  # our own files; several statements, no parameters
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )


def schema_problems(conn: psycopg.Connection[tuple[object, ...]], *, full: bool) -> list[str]:
    """The schema's problems: not at the latest migration, or a table unreadable (``full``: scanned)."""
    problems: list[str] = []
    row = conn.execute(
        "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN -1"
        " ELSE (SELECT coalesce(max(version), 0) FROM schema_version) END"
    ).fetchone()
    version = -1 if row is None else int(str(row[0]))
    expected = len(migrations())
    if version != expected:
        problems.append(f"schema version is {version}, expected {expected}")
    for table in TABLES:
        probe = sql.SQL("SELECT count(*) FROM {}" if full else "SELECT 1 FROM {} LIMIT 1")
        try:
            with conn.transaction():
                conn.execute(probe.format(sql.Identifier(table)))
        except pg_errors.UndefinedTable:
            problems.append(f"table {table} is missing")
        except pg_errors.InsufficientPrivilege as e:
            problems.append(f"table {table} is not readable: {e}")
    return problems


def connect(url: str, connect_timeout: float) -> None:
    """Connect once, check the schema and migrate it; the pool opens afterwards.

    Raises:
        OperationalError: the server is unreachable or refused the connection.
        ProgrammingError: the schema is not ours or is newer than this code.
    """
    where = redact(url)
    try:
        conninfo_to_dict(url)
    except psycopg.Error as e:
        raise ProgrammingError(f"bad PostgreSQL URL {where}: {e}") from e
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout)))
    except psycopg.Error as e:
        raise OperationalError(f"cannot connect to PostgreSQL at {where}: {e}".strip()) from e
    with conn:
        try:
            migrate(conn, where)
        except psycopg.Error as e:
            raise wrap_error(e, f"migrate {where}") from e


def write_batch(
    conn: psycopg.Connection[tuple[object, ...]],
    prepared: PreparedBatch,
    entries: Sequence[EntryValues] | None = None,
    *,
    lock: bool = True,
) -> None:
    """Take the track's lock, check its size and write a validated batch (inside a transaction).

    ``entries`` are the batch's entry rows as stored: ``(seq, signed, salt,
    key_version)``, sealed unless ``key_version`` is ``None`` (ADR-0057; default:
    the batch's entries in plain text). ``lock=False`` leaves the serialisation
    to the transaction's isolation level (the SERIALIZABLE option that
    ``bench/pg_locking.py`` measures, ADR-0055).
    """
    with conn.pipeline():  # two round trips: the lock and the size, then every write
        _write_batch(conn, prepared, entries, lock=lock)


def _write_batch(
    conn: psycopg.Connection[tuple[object, ...]],
    prepared: PreparedBatch,
    entries: Sequence[EntryValues] | None,
    *,
    lock: bool,
) -> None:
    track = prepared.track
    if lock:
        conn.execute(_TRACK_LOCK, (track,))
    # READ COMMITTED: this statement's snapshot is taken after the lock is held,
    # so it sees every append committed by whoever held the lock before us.
    row = conn.execute("SELECT id, origin, size FROM tracks WHERE name = %s", (track,)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown track {track!r}")
    track_id, origin, actual = row
    assert isinstance(origin, str)
    assert isinstance(actual, int)
    if actual != prepared.expected_size:
        raise size_conflict(track, prepared.expected_size, actual)
    check_origin(track, origin, prepared.checkpoint)
    rows = (
        entries if entries is not None else [(e.seq, e.signed_bytes, e.salt, None) for e in prepared.entries]
    )
    columns = ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    conn.execute(_INSERT_ENTRIES, (track_id, *columns))
    nodes = prepared.nodes
    conn.execute(
        _INSERT_NODES, (track_id, [n[0] for n in nodes], [n[1] for n in nodes], [n[2] for n in nodes])
    )
    conn.execute(_INSERT_CHECKPOINT, (track_id, prepared.new_size, prepared.checkpoint.to_text()))
    conn.execute("UPDATE tracks SET size = %s WHERE id = %s", (prepared.new_size, track_id))
