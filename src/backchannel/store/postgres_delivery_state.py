"""The PostgreSQL :class:`~backchannel.store.delivery_state.DeliveryState` (ADR-0059, ADR-0060).

:class:`PostgresDeliveryState` keeps leases, heartbeats, replay nonces and work
leases in the same schema as the
:class:`~backchannel.store.postgres.PostgresEventStore` (migration
``0007_delivery_state.sql``), so every node of one database shares them:

- **Its own small pool** (``max_size`` 4 by default), not the store's: a lease
  claim or a nonce never waits behind a long append or read, and the event
  store's module stays as it is. One node holds a few more connections.
- **Commits that do not wait for the disk** (``synchronous_commit = off`` on its
  connections, the counterpart of the SQLite state's ``synchronous=NORMAL``): a
  nonce, lease, heartbeat or work lease is visible to every node at commit, but a
  crash of the database server may lose the last fraction of a second of them,
  which costs a redelivery or a refused request, never evidence (the log's own
  appends, on the store's pool, still wait for the disk). Without it every
  request paid one WAL flush for its nonce.
- **Compare-and-set claims.** A claim is one transaction that first takes a
  transaction-scoped advisory lock on ``(schema, track, party)`` (so the credit
  ``limit`` is counted and spent by one node at a time, as SQLite's single
  writer does), then ``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE attempts
  <= seen``: the row lock and the condition grant attempt *n* once across nodes.
  Forgetting takes the same lock, so a claim and a deletion of one party's
  rows never lock them in opposite orders (no deadlock).
  A granted claim raises the track's version and sends ``NOTIFY`` on the
  schema's channel, delivered when (and only if) the transaction commits.
- **Nonces** are inserted with an expiry; an expired one is overwritten in
  place, and every 256 additions the expired rows are deleted through the
  index on ``expires`` (one short statement).
- **Work leases** are taken or renewed with one upsert whose ``WHERE`` lets
  only the holder renew or anyone take an expired lease.

:func:`channel_name` derives the ``LISTEN``/``NOTIFY`` channel from the schema
name (several deployments and tests share one server): ``backchannel:<schema>``,
shortened with a hash to fit PostgreSQL's 63-byte identifiers.
:meth:`PostgresDeliveryState.notify` sends on it;
:class:`~backchannel.service.pg_notifier.PostgresNotifier` listens.

Thread safety: each call borrows a pooled connection. Errors are mapped as the
event store maps them (:func:`~backchannel.store._pg_schema.wrap_error`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
from psycopg_pool import ConnectionPool

from backchannel.errors import ProgrammingError
from backchannel.store._pg_schema import connect, redact, wrap_error
from backchannel.store.delivery_state import Claim, Heartbeat, LeaseRecord, WorkLease

__all__ = ["CHANNEL_PREFIX", "PostgresDeliveryState", "channel_name"]

Connection = psycopg.Connection[tuple[object, ...]]

CHANNEL_PREFIX = "backchannel:"
"""What every change channel's name starts with."""
_IDENTIFIER_BYTES = 63
"""PostgreSQL's identifier limit (NAMEDATALEN - 1): longer channel names are cut, so they could collide."""
_PRUNE_EVERY = 256
"""Nonces added between two deletions of the expired ones."""

_PARTY_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'backchannel.lease:' || current_schema() || ':' || %s || ':' || %s, 0))"
)
_CLAIM = (  # many claims in one statement; RETURNING names those granted
    "INSERT INTO delivery_leases (track, party, message_id, attempts, visible_at)"
    " SELECT %s, %s, c.message_id, c.attempts, c.visible_at"
    " FROM unnest(%s::text[], %s::integer[], %s::timestamptz[]) AS c (message_id, attempts, visible_at)"
    " ON CONFLICT (track, party, message_id) DO UPDATE SET attempts = excluded.attempts,"
    " visible_at = excluded.visible_at WHERE delivery_leases.attempts <= excluded.attempts - 1"
    " RETURNING message_id"
)
_BUSY = "SELECT message_id FROM delivery_leases WHERE track = %s AND party = %s AND visible_at > %s"
_BUMP = (
    "INSERT INTO delivery_versions (track, claims) VALUES (%s, 1)"
    " ON CONFLICT (track) DO UPDATE SET claims = delivery_versions.claims + 1"
)
_BEAT = (
    "INSERT INTO delivery_heartbeats (track, member, party, at) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (track, member) DO UPDATE SET at = excluded.at, party = excluded.party"
    " WHERE excluded.at > delivery_heartbeats.at"
)
_NONCE = (
    "INSERT INTO replay_nonces (track, key_id, nonce, expires) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (track, key_id, nonce) DO UPDATE SET expires = excluded.expires"
    " WHERE replay_nonces.expires < %s"
)
_WORK = (
    "INSERT INTO work_leases (scope, holder, expires) VALUES (%s, %s, %s)"
    " ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, expires = excluded.expires"
    " WHERE work_leases.holder = excluded.holder OR work_leases.expires <= %s"
    " RETURNING holder, expires"
)
_VERSIONS = (
    "SELECT t.name, t.size + coalesce(v.claims, 0) FROM tracks AS t"
    " LEFT JOIN delivery_versions AS v ON v.track = t.name ORDER BY t.name"
)
_NOTIFY = "SELECT pg_notify(%s, t) FROM unnest(%s::text[]) AS t"


def channel_name(schema: str) -> str:
    """The ``LISTEN``/``NOTIFY`` channel of the store in ``schema``: ``backchannel:<schema>``.

    A name longer than PostgreSQL's 63 bytes keeps a prefix of the schema and
    ends with 16 hex digits of its SHA-256, so two long schema names that
    share a prefix still get two channels.
    """
    name = CHANNEL_PREFIX + schema
    if len(name.encode()) <= _IDENTIFIER_BYTES:
        return name
    digest = "#" + hashlib.sha256(schema.encode()).hexdigest()[:16]
    room = _IDENTIFIER_BYTES - len(CHANNEL_PREFIX) - len(digest)
    head = schema.encode()[:room].decode(errors="ignore")  # never half a character
    return CHANNEL_PREFIX + head + digest


def _moment(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def _relaxed_commits(conn: Connection) -> None:
    """A pooled connection's commits return before the WAL reaches the disk (see the module docstring)."""
    conn.execute("SET synchronous_commit TO off")


class PostgresDeliveryState:
    """Shared delivery state in the PostgreSQL store's schema (see the module docstring).

    Args:
        url: The store's connection URL (the schema is the first on its ``search_path``;
            migrated if needed).
        max_size: The most connections its pool opens.
        timeout: Seconds to wait for the server and for a free pooled connection.

    Raises:
        OperationalError: the server is unreachable or refused the connection.
        ProgrammingError: a schema that is not a backchannel store, or a newer one.
    """

    def __init__(self, url: str, *, max_size: int = 4, timeout: float = 10.0) -> None:
        """Migrate the schema if needed and open a pool of its own."""
        self._where = redact(url)
        connect(url, timeout)
        pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            configure=_relaxed_commits,
            open=False,
            name="backchannel-delivery-state",
        )
        try:
            pool.open(wait=True, timeout=timeout)
            with pool.connection() as conn:
                row = conn.execute("SELECT current_schema()").fetchone()
        except psycopg.Error as e:
            pool.close()
            raise wrap_error(e, f"open the delivery state at {self._where}") from e
        assert row is not None
        self._pool: ConnectionPool[Connection] | None = pool
        self.schema = str(row[0])
        """The schema the state (and the store) lives in."""
        self.channel = channel_name(self.schema)
        """The ``LISTEN``/``NOTIFY`` channel of this schema's changes."""
        self._lock = threading.Lock()
        self._added = 0

    @contextmanager
    def _connection(self, doing: str) -> Iterator[Connection]:
        pool = self._pool
        if pool is None:
            raise ProgrammingError(f"PostgresDeliveryState({self._where!r}) is closed")
        try:
            with pool.connection() as conn:
                yield conn
        except psycopg.Error as e:
            raise wrap_error(e, f"{doing} ({self._where})") from e

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        with self._connection(doing) as conn, conn.transaction():
            yield conn

    def _fetch(self, doing: str, query: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._connection(doing) as conn:
            return conn.execute(query, params).fetchall()

    def leases(self, track: str, party: str) -> list[LeaseRecord]:
        """Every lease record of ``party`` on ``track``, in message id order."""
        rows = self._fetch(
            f"read the leases of {party!r} on {track!r}",
            "SELECT message_id, attempts, visible_at FROM delivery_leases"
            ' WHERE track = %s AND party = %s ORDER BY message_id COLLATE "C"',
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
            conn.execute(_PARTY_LOCK, (track, party))
            room = len(claims)
            if limit is not None:
                claimed = {c.message_id for c in claims}
                rows = conn.execute(_BUSY, (track, party, now)).fetchall()
                room = limit - sum(1 for (m,) in rows if m not in claimed)
            rest = list(claims)
            while rest and len(granted) < room:  # once, unless another node holds some of them
                batch, rest = rest[: room - len(granted)], rest[room - len(granted) :]
                columns = (
                    [c.message_id for c in batch],
                    [c.seen + 1 for c in batch],
                    [c.visible_at for c in batch],
                )
                won = {str(m) for (m,) in conn.execute(_CLAIM, (track, party, *columns)).fetchall()}
                granted.extend(c.message_id for c in batch if c.message_id in won)
            if granted:
                conn.execute(_BUMP, (track,))
                conn.execute(_NOTIFY, (self.channel, [track]))  # sent at commit, not before
        return granted

    def forget(self, track: str, party: str, message_ids: Iterable[str]) -> None:
        """Drop the lease records of ``message_ids`` (idempotent)."""
        ids = list(message_ids)
        if not ids:
            return
        with self._transaction(f"forget leases of {party!r} on {track!r}") as conn:
            conn.execute(_PARTY_LOCK, (track, party))  # as claims take it: no deadlock on their rows
            conn.execute(
                "DELETE FROM delivery_leases WHERE track = %s AND party = %s AND message_id = ANY(%s)",
                (track, party, ids),
            )

    def beat(self, track: str, beats: Sequence[Heartbeat]) -> None:
        """Keep each heartbeat unless a later one of its member is stored."""
        if not beats:
            return
        with self._transaction(f"keep heartbeats on {track!r}") as conn, conn.cursor() as cursor:
            cursor.executemany(_BEAT, [(track, b.member, b.party, b.at) for b in beats])

    def heartbeats(self, track: str) -> list[Heartbeat]:
        """Every member's latest heartbeat on ``track``, by member."""
        rows = self._fetch(
            f"read the heartbeats on {track!r}",
            'SELECT member, party, at FROM delivery_heartbeats WHERE track = %s ORDER BY member COLLATE "C"',
            (track,),
        )
        return [Heartbeat(str(m), str(p), _moment(at)) for m, p, at in rows]

    def add_nonce(self, track: str, key_id: str, nonce: str, expires: datetime, now: datetime) -> bool:
        """Record a nonce until ``expires``; False if it is held unexpired (expired ones are pruned)."""
        with self._lock:
            self._added += 1
            prune = self._added % _PRUNE_EVERY == 0
        with self._connection(f"record a nonce of {track!r}") as conn:  # autocommit: one round trip
            added = conn.execute(_NONCE, (track, key_id, nonce, expires, now)).rowcount == 1
            if prune:
                conn.execute("DELETE FROM replay_nonces WHERE expires < %s", (now,))
        return added

    def acquire_work(self, scope: str, holder: str, now: datetime, expires: datetime) -> WorkLease:
        """Take or renew ``scope``'s work lease unless another holds it unexpired."""
        with self._transaction(f"take the work lease of {scope!r}") as conn:
            row = conn.execute(_WORK, (scope, holder, expires, now)).fetchone()
            if row is None:  # held by another: read who, under the row lock the upsert took
                row = conn.execute(
                    "SELECT holder, expires FROM work_leases WHERE scope = %s", (scope,)
                ).fetchone()
        assert row is not None
        return WorkLease(scope, str(row[0]), _moment(row[1]))

    def release_work(self, scope: str, holder: str) -> None:
        """Give up ``scope``'s work lease if ``holder`` holds it."""
        with self._transaction(f"release the work lease of {scope!r}") as conn:
            conn.execute("DELETE FROM work_leases WHERE scope = %s AND holder = %s", (scope, holder))

    def versions(self) -> dict[str, int]:
        """Per track: its log size plus the lease claims made on it (one read)."""
        rows = self._fetch("read the track versions", _VERSIONS, ())
        return {str(name): int(str(version)) for name, version in rows}

    def notify(self, tracks: Iterable[str]) -> None:
        """Send one ``NOTIFY`` per track on this schema's channel (every listening node hears it)."""
        names = sorted(set(tracks))
        if names:
            with self._connection(f"notify the changes of {names}") as conn:
                conn.execute(_NOTIFY, (self.channel, names))

    def close(self) -> None:
        """Close the pool. Idempotent; later calls raise ``ProgrammingError``."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
