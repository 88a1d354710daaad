"""The feed store: event reports, persistent, append-only and auditable.

A :class:`FeedStore` keeps every distinct report (by digest) once, numbered
1, 2, ... in arrival order, and the analyst's source reliabilities. Nothing
is ever updated or deleted: fusion is a view recomputed from the reports
(:func:`backchannel.forecast.fusion.fuse`), and a new reliability for a
source is a new row (the latest wins). Two adapters obey one contract
(:class:`backchannel.testing.feed_contracts.FeedStoreContract`):

- :class:`MemoryFeedStore` for tests and simulations;
- :class:`SQLiteFeedStore`, its own SQLite file (WAL, ``synchronous=FULL``),
  with numbered migrations in ``backchannel/forecast/migrations`` applied on
  open and recorded in ``schema_version``; triggers refuse ``UPDATE`` and
  ``DELETE`` on reports and reliabilities. All of this package's SQL is here.

**Audit.** Each row stores the report's canonical JSON, its SHA-256 digest,
and a chain hash ``SHA-256(previous chain || digest)`` (32 zero bytes before
the first). :meth:`FeedStore.check` recomputes all three for every row and
returns an :class:`AuditResult` naming the first bad row;
:meth:`FeedStore.verify` raises
:class:`~backchannel.errors.VerificationError` instead. Keep the
:attr:`AppendResult.head` of an import to also catch a truncated store.

This module does not fuse, count or plot, and reads no clock (times are arguments).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, Self

from backchannel.errors import (
    EncodingError,
    OperationalError,
    ProgrammingError,
    VerificationError,
)
from backchannel.forecast.events import EventReport, parse_time
from backchannel.forecast.fusion import SourceReliability

__all__ = [
    "GENESIS",
    "AppendResult",
    "AuditResult",
    "FeedStore",
    "MemoryFeedStore",
    "SQLiteFeedStore",
    "StoredReport",
    "chain_next",
]

GENESIS = "0" * 64
"""The chain value before the first report."""

_MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
_READ_CHUNK = 512


def chain_next(previous: str, digest: str) -> str:
    """The chain hash after ``digest``: SHA-256 of the two 32-byte values (hex in, hex out)."""
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(digest)).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A report as stored.

    Attributes:
        seq: Its number, 1-based, in arrival order.
        report: The report.
        chain: The chain hash after it.
        imported_at: When it was appended.
        batch: The import it came with (e.g. the file name).
    """

    seq: int
    report: EventReport
    chain: str
    imported_at: datetime
    batch: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did.

    Attributes:
        added: New reports stored.
        duplicates: Reports already stored (same digest), not stored again.
        size: How many reports the store holds now.
        head: The chain hash of the last report (keep it to detect truncation).
    """

    added: int
    duplicates: int
    size: int
    head: str


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What an audit found (true when everything verified).

    Attributes:
        size: Rows checked.
        head: The recomputed chain head.
        bad_seq: The first bad row (None: none).
        problem: What is wrong with it ("" when fine).
    """

    size: int
    head: str
    bad_seq: int | None = None
    problem: str = ""

    def __bool__(self) -> bool:
        """True when every row verified."""
        return self.bad_seq is None


class FeedStore(Protocol):
    """Persistent, append-only storage of event reports and source reliabilities."""

    def append(self, reports: Iterable[EventReport], imported_at: datetime, batch: str = "") -> AppendResult:
        """Store the reports not stored yet, in order, in one transaction."""
        ...

    def reports(self, after: int = 0) -> Iterator[StoredReport]:
        """Stored reports with ``seq > after``, in order."""
        ...

    def size(self) -> int:
        """How many reports are stored."""
        ...

    def set_reliability(self, source: str, reliability: float, set_at: datetime) -> None:
        """Record the analyst's reliability for ``source`` (a new row; the latest wins)."""
        ...

    def reliability(self, default: float = 0.5) -> SourceReliability:
        """The latest reliability of every source named, with ``default`` for the rest."""
        ...

    def check(self, expected_head: str | None = None) -> AuditResult:
        """Recompute every digest and the chain; compare the head if one is given."""
        ...

    def verify(self, expected_head: str | None = None) -> AuditResult:
        """:meth:`check`, raising :class:`VerificationError` (with the row) on a failure."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


def _body(report: EventReport) -> str:
    return report.canonical()


def _check_reliability(source: str, reliability: float) -> None:
    SourceReliability({source: reliability})
    if not source.strip():
        raise EncodingError(f"source: must be a non-empty string (got {source!r})")


def _audit_rows(rows: Iterable[tuple[int, str, str, str]], expected_head: str | None) -> AuditResult:
    """Check (seq, digest, body, chain) rows in order."""
    chain = GENESIS
    count = 0
    for seq, digest, body, stored_chain in rows:
        count += 1
        problem = _row_problem(seq, count, digest, body)
        chain = chain_next(chain, digest)
        if not problem and stored_chain != chain:
            problem = "chain hash does not follow from the rows before it"
        if problem:
            return AuditResult(count, chain, seq, problem)
    if expected_head is not None and expected_head != chain:
        return AuditResult(
            count, chain, count, f"head {chain[:16]}... is not the expected {expected_head[:16]}..."
        )
    return AuditResult(count, chain)


def _row_problem(seq: int, position: int, digest: str, body: str) -> str:
    if seq != position:
        return f"row number {seq} where {position} was expected (a row is missing)"
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != digest:
        return "body does not hash to its digest (altered)"
    try:
        report = EventReport.from_dict(json.loads(body))
    except (EncodingError, ValueError) as e:
        return f"body is not a valid report: {e}"
    if _body(report) != body:
        return "body is not canonical JSON"
    return ""


def _raise_on(result: AuditResult) -> AuditResult:
    if not result:
        raise VerificationError(f"feed store row {result.bad_seq}: {result.problem}", index=result.bad_seq)
    return result


class MemoryFeedStore:
    """The in-memory :class:`FeedStore` (tests, simulation)."""

    def __init__(self) -> None:
        """Create an empty store."""
        self._rows: list[tuple[int, str, str, str, str, str]] = []  # seq, digest, body, chain, at, batch
        self._digests: set[str] = set()
        self._reliability: list[tuple[str, float]] = []

    def append(self, reports: Iterable[EventReport], imported_at: datetime, batch: str = "") -> AppendResult:
        """Store the reports not stored yet (see :class:`FeedStore`)."""
        added = duplicates = 0
        chain = self._rows[-1][3] if self._rows else GENESIS
        for report in reports:
            digest = report.digest()
            if digest in self._digests:
                duplicates += 1
                continue
            chain = chain_next(chain, digest)
            self._rows.append(
                (len(self._rows) + 1, digest, _body(report), chain, imported_at.isoformat(), batch)
            )
            self._digests.add(digest)
            added += 1
        return AppendResult(added, duplicates, len(self._rows), chain)

    def reports(self, after: int = 0) -> Iterator[StoredReport]:
        """Stored reports with ``seq > after`` (see :class:`FeedStore`)."""
        for seq, _digest, body, chain, at, batch in self._rows[max(after, 0) :]:
            yield StoredReport(
                seq, EventReport.from_dict(json.loads(body)), chain, parse_time(at, "at"), batch
            )

    def size(self) -> int:
        """How many reports are stored."""
        return len(self._rows)

    def set_reliability(self, source: str, reliability: float, set_at: datetime) -> None:  # noqa: ARG002 - the contract's signature
        """Record a reliability (see :class:`FeedStore`)."""
        _check_reliability(source, reliability)
        self._reliability.append((source, reliability))

    def reliability(self, default: float = 0.5) -> SourceReliability:
        """The latest reliabilities (see :class:`FeedStore`)."""
        return SourceReliability(dict(self._reliability), default)

    def check(self, expected_head: str | None = None) -> AuditResult:
        """Audit every row (see :class:`FeedStore`)."""
        return _audit_rows(((r[0], r[1], r[2], r[3]) for r in self._rows), expected_head)

    def verify(self, expected_head: str | None = None) -> AuditResult:
        """Audit, raising on a failure (see :class:`FeedStore`)."""
        return _raise_on(self.check(expected_head))

    def close(self) -> None:
        """Nothing to release."""

    def unsafe_replace_body(self, seq: int, body: str) -> None:
        """Overwrite a row's body behind the store's back: for audit tests only."""
        row = self._rows[seq - 1]
        self._rows[seq - 1] = (row[0], row[1], body, *row[3:])


def _migrations() -> list[tuple[int, str, str]]:
    folder = importlib.resources.files("backchannel.forecast").joinpath("migrations")
    found = []
    for item in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(item.name)
        if match:
            found.append((int(match[1]), item.name, item.read_text(encoding="utf-8")))
    found.sort()
    if [number for number, _, _ in found] != list(range(1, len(found) + 1)):
        raise ProgrammingError("feed store migrations must be numbered 0001, 0002, ... without gaps")
    return found


def _statements(script: str) -> Iterator[str]:
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


def _wrap(error: sqlite3.Error, what: str) -> OperationalError | ProgrammingError:
    if isinstance(error, sqlite3.OperationalError) and "no such table" not in str(error):
        return OperationalError(f"feed store: {what}: {error}")
    return ProgrammingError(f"feed store: {what}: {error}")


class SQLiteFeedStore:
    """The SQLite :class:`FeedStore`: one file, WAL, numbered migrations, append-only triggers."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the store at ``path`` and bring its schema up to date.

        Raises:
            OperationalError: the file cannot be opened or written.
            ProgrammingError: not a database, or from a newer schema than this code knows.
        """
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.Error as e:
            raise _wrap(e, f"cannot open {path}") from e

    def __enter__(self) -> Self:
        """Use the store as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            current = db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            known = _migrations()
            if current > len(known):
                raise ProgrammingError(
                    f"feed store {self.path}: schema {current} is newer than this code knows"
                )
            for number, name, sql in known[current:]:
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", (number, name))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def append(self, reports: Iterable[EventReport], imported_at: datetime, batch: str = "") -> AppendResult:
        """Store the reports not stored yet, in one transaction (see :class:`FeedStore`)."""
        pending = [(r.digest(), r) for r in reports]
        with self._lock:
            try:
                return self._append(pending, imported_at.isoformat(), batch)
            except sqlite3.Error as e:
                raise _wrap(e, "append") from e

    def _append(self, pending: list[tuple[str, EventReport]], at: str, batch: str) -> AppendResult:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            size, chain = db.execute(
                "SELECT count(*), coalesce((SELECT chain FROM reports ORDER BY seq DESC LIMIT 1), ?)"
                " FROM reports",
                (GENESIS,),
            ).fetchone()
            rows: list[tuple[int, str, str, str, str, str]] = []
            seen: set[str] = set()
            for digest, report in pending:
                if (
                    digest in seen
                    or db.execute("SELECT 1 FROM reports WHERE digest = ?", (digest,)).fetchone()
                ):
                    continue
                seen.add(digest)
                chain = chain_next(chain, digest)
                rows.append((size + len(rows) + 1, digest, _body(report), chain, at, batch))
            db.executemany(
                "INSERT INTO reports (seq, digest, body, chain, imported_at, batch)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return AppendResult(len(rows), len(pending) - len(rows), size + len(rows), chain)

    def _chunks(self, sql: str, after: int) -> Iterator[tuple[object, ...]]:
        while True:
            with self._lock:
                try:
                    rows = self._db.execute(sql, (after, _READ_CHUNK)).fetchall()
                except sqlite3.Error as e:
                    raise _wrap(e, "read") from e
            yield from rows
            if len(rows) < _READ_CHUNK:
                return
            after = int(str(rows[-1][0]))

    def reports(self, after: int = 0) -> Iterator[StoredReport]:
        """Stored reports with ``seq > after``, read in bounded chunks (see :class:`FeedStore`)."""
        sql = "SELECT seq, body, chain, imported_at, batch FROM reports WHERE seq > ? ORDER BY seq LIMIT ?"
        for seq, body, chain, at, batch in self._chunks(sql, after):
            report = EventReport.from_dict(json.loads(str(body)))
            yield StoredReport(int(str(seq)), report, str(chain), parse_time(at, "imported_at"), str(batch))

    def size(self) -> int:
        """How many reports are stored."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM reports").fetchone()[0])

    def set_reliability(self, source: str, reliability: float, set_at: datetime) -> None:
        """Record a reliability as a new row (see :class:`FeedStore`)."""
        _check_reliability(source, reliability)
        with self._lock:
            self._db.execute(
                "INSERT INTO reliability (source, reliability, set_at) VALUES (?, ?, ?)",
                (source, reliability, set_at.isoformat()),
            )

    def reliability(self, default: float = 0.5) -> SourceReliability:
        """The latest reliabilities (see :class:`FeedStore`)."""
        with self._lock:
            rows = self._db.execute("SELECT source, reliability FROM reliability ORDER BY seq").fetchall()
        return SourceReliability({str(s): float(r) for s, r in rows}, default)

    def check(self, expected_head: str | None = None) -> AuditResult:
        """Audit every row (see :class:`FeedStore`)."""
        sql = "SELECT seq, digest, body, chain FROM reports WHERE seq > ? ORDER BY seq LIMIT ?"
        rows = ((int(str(s)), str(d), str(b), str(c)) for s, d, b, c in self._chunks(sql, 0))
        return _audit_rows(rows, expected_head)

    def verify(self, expected_head: str | None = None) -> AuditResult:
        """Audit, raising on a failure (see :class:`FeedStore`)."""
        return _raise_on(self.check(expected_head))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
