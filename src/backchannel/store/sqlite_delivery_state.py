"""The SQLite :class:`~backchannel.store.delivery_state.DeliveryState` (ADR-0059).

:class:`SQLiteDeliveryState` opens its own connection to the store's file (the
schema is migration ``0007_delivery_state.sql``), so several processes serving
one data directory share leases, heartbeats, nonces and work leases through it.

It runs with ``synchronous=NORMAL`` (a per-connection setting; the log's own
connection keeps ``FULL``): a commit survives a process crash, and only a power
loss can roll back the last ones. What that can lose is never evidence: a lease
(the message is delivered again, at-least-once), a heartbeat, a work lease, or
a nonce (and a restarted node refuses every request created before it started,
ADR-0024). So a lease claim or a nonce costs a WAL write, not an fsync.

Thread safety: one connection behind a lock. Errors are mapped as the event
store maps them (:func:`~backchannel.store._sqlite_schema.wrap_error`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from backchannel.errors import ProgrammingError
from backchannel.store._sqlite_schema import connect, rollback, wrap_error
from backchannel.store.delivery_state import Claim, Heartbeat, LeaseRecord, WorkLease

__all__ = ["SQLiteDeliveryState"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PRUNE_EVERY = 256
"""Nonces added between two deletions of the expired ones."""

_CLAIM = (
    "INSERT INTO delivery_leases (track, party, message_id, attempts, visible_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (track, party, message_id) DO UPDATE SET attempts = excluded.attempts,"
    " visible_at = excluded.visible_at WHERE delivery_leases.attempts <= excluded.attempts - 1"
)
_BUSY = "SELECT message_id FROM delivery_leases WHERE track = ? AND party = ? AND visible_at > ?"
_BUMP = (
    "INSERT INTO delivery_versions (track, claims) VALUES (?, 1)"
    " ON CONFLICT (track) DO UPDATE SET claims = claims + 1"
)
_BEAT = (
    "INSERT INTO delivery_heartbeats (track, member, party, at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (track, member) DO UPDATE SET at = excluded.at, party = excluded.party"
    " WHERE excluded.at > delivery_heartbeats.at"
)
_NONCE = (
    "INSERT INTO replay_nonces (track, key_id, nonce, expires) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (track, key_id, nonce) DO UPDATE SET expires = excluded.expires"
    " WHERE replay_nonces.expires < ?"
)
_WORK = (
    "INSERT INTO work_leases (scope, holder, expires) VALUES (?, ?, ?)"
    " ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, expires = excluded.expires"
    " WHERE work_leases.holder = excluded.holder OR work_leases.expires <= ?"
)
_VERSIONS = (
    "SELECT t.name, t.size + coalesce(v.claims, 0) FROM tracks AS t"
    " LEFT JOIN delivery_versions AS v ON v.track = t.name ORDER BY t.name"
)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: object) -> datetime:
    assert isinstance(micros, int)
    return _EPOCH + timedelta(microseconds=micros)


class SQLiteDeliveryState:
    """Shared delivery state in the SQLite store's file (see the module docstring).

    Args:
        path: The store's database file (migrated if needed).
        busy_timeout: Seconds to wait for another writer's lock.

    Raises:
        ProgrammingError: not a backchannel store, or a newer schema.
        OperationalError: the file cannot be opened or stayed locked.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        """Open a connection of its own to ``path``."""
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(self._path, busy_timeout)
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._added = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProgrammingError(f"SQLiteDeliveryState({self._path!r}) is closed")
        return self._conn

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                rollback(conn)
                raise wrap_error(e, doing) from e
            except BaseException:
                rollback(conn)
                raise

    def _fetch(self, doing: str, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                rows: list[tuple[object, ...]] = self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise wrap_error(e, doing) from e
            return rows

    def leases(self, track: str, party: str) -> list[LeaseRecord]:
        """Every lease record of ``party`` on ``track``, in message id order."""
        rows = self._fetch(
            f"read the leases of {party!r} on {track!r}",
            "SELECT message_id, attempts, visible_at FROM delivery_leases"
            " WHERE track = ? AND party = ? ORDER BY message_id",
            (track, party),
        )
        return [LeaseRecord(str(m), int(str(a)), _moment(v)) for m, a, v in rows]

    def claim(
        self, track: str, party: str, claims: Sequence[Claim], *, now: datetime, limit: int | None = None
    ) -> list[str]:
        """Grant each claim whose ``seen`` is at least the stored attempts, within ``limit``, at once."""
        if not claims:
            return []
        granted: list[str] = []
        with self._transaction(f"claim leases of {party!r} on {track!r}") as conn:
            room = len(claims)
            if limit is not None:
                claimed = {c.message_id for c in claims}
                rows = conn.execute(_BUSY, (track, party, _micros(now))).fetchall()
                room = limit - sum(1 for (m,) in rows if m not in claimed)
            for c in claims:
                if len(granted) >= room:
                    break
                row = (track, party, c.message_id, c.seen + 1, _micros(c.visible_at))
                if conn.execute(_CLAIM, row).rowcount == 1:
                    granted.append(c.message_id)
            if granted:
                conn.execute(_BUMP, (track,))
        return granted

    def forget(self, track: str, party: str, message_ids: Iterable[str]) -> None:
        """Drop the lease records of ``message_ids`` (idempotent)."""
        rows = [(track, party, m) for m in message_ids]
        if not rows:
            return
        with self._transaction(f"forget leases of {party!r} on {track!r}") as conn:
            conn.executemany(
                "DELETE FROM delivery_leases WHERE track = ? AND party = ? AND message_id = ?", rows
            )

    def beat(self, track: str, beats: Sequence[Heartbeat]) -> None:
        """Keep each heartbeat unless a later one of its member is stored."""
        if not beats:
            return
        with self._transaction(f"keep heartbeats on {track!r}") as conn:
            conn.executemany(_BEAT, [(track, b.member, b.party, _micros(b.at)) for b in beats])

    def heartbeats(self, track: str) -> list[Heartbeat]:
        """Every member's latest heartbeat on ``track``, by member."""
        rows = self._fetch(
            f"read the heartbeats on {track!r}",
            "SELECT member, party, at FROM delivery_heartbeats WHERE track = ? ORDER BY member",
            (track,),
        )
        return [Heartbeat(str(m), str(p), _moment(at)) for m, p, at in rows]

    def add_nonce(self, track: str, key_id: str, nonce: str, expires: datetime, now: datetime) -> bool:
        """Record a nonce until ``expires``; False if it is held unexpired (expired ones are pruned)."""
        at = _micros(now)
        with self._transaction(f"record a nonce of {track!r}") as conn:
            added = conn.execute(_NONCE, (track, key_id, nonce, _micros(expires), at)).rowcount == 1
            self._added += 1
            if self._added % _PRUNE_EVERY == 0:
                conn.execute("DELETE FROM replay_nonces WHERE expires < ?", (at,))
        return added

    def acquire_work(self, scope: str, holder: str, now: datetime, expires: datetime) -> WorkLease:
        """Take or renew ``scope``'s work lease unless another holds it unexpired."""
        with self._transaction(f"take the work lease of {scope!r}") as conn:
            conn.execute(_WORK, (scope, holder, _micros(expires), _micros(now)))
            row = conn.execute("SELECT holder, expires FROM work_leases WHERE scope = ?", (scope,)).fetchone()
        return WorkLease(scope, str(row[0]), _moment(row[1]))

    def release_work(self, scope: str, holder: str) -> None:
        """Give up ``scope``'s work lease if ``holder`` holds it."""
        with self._transaction(f"release the work lease of {scope!r}") as conn:
            conn.execute("DELETE FROM work_leases WHERE scope = ? AND holder = ?", (scope, holder))

    def versions(self) -> dict[str, int]:
        """Per track: its log size plus the lease claims made on it (one read)."""
        rows = self._fetch("read the track versions", _VERSIONS, ())
        return {str(name): int(str(version)) for name, version in rows}

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version`` of this connection: it moves when another connection commits."""
        rows = self._fetch("read the data version", "PRAGMA data_version", ())
        return int(str(rows[0][0]))

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
