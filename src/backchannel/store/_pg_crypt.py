"""The PostgreSQL store's key tables for encryption at rest (ADR-0057).

:class:`PostgresDataKeys` is the :class:`~backchannel.store.encryption.DataKeyStore`
over PostgreSQL migration 0006's ``master_key_check`` and ``data_keys`` tables
(the twins of SQLite's); :func:`is_encrypted` tells whether a schema was ever
opened with a master key. Rows are sealed and opened by :mod:`backchannel.store.sealing`,
exactly as on SQLite.

Several nodes may share one schema: the first writer of the check value or of
a data key version wins (``ON CONFLICT DO NOTHING``), and the others read what
it stored, so every node seals with the same keys.

This module holds no connection of its own: it runs statements through the
store's pooled helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import psycopg

from backchannel.store.encryption import WrappedDataKey

__all__ = ["PostgresDataKeys", "is_encrypted"]

Transaction = Callable[[str], AbstractContextManager[psycopg.Connection[tuple[object, ...]]]]
Fetch = Callable[[str, str, Sequence[object]], list[tuple[object, ...]]]

_INSERT_CHECK = (
    "INSERT INTO master_key_check (id, master_id, check_value, created)"
    " VALUES (1, %s, %s, extract(epoch FROM now())::bigint) ON CONFLICT (id) DO NOTHING"
)
_SELECT_CHECK = "SELECT master_id, check_value FROM master_key_check WHERE id = 1"
_SELECT_KEYS = "SELECT version, created, master_id, wrapped FROM data_keys WHERE track = %s"
_INSERT_KEY = (
    "INSERT INTO data_keys (track, version, created, master_id, wrapped) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (track, version) DO NOTHING"
)


class PostgresDataKeys:
    """The check value and wrapped data keys in the store's own schema.

    Args:
        transaction: The store's one-transaction helper (a pooled connection).
        fetch: The store's one-statement read helper.
    """

    def __init__(self, transaction: Transaction, fetch: Fetch) -> None:
        """Use the store's pooled helpers."""
        self._transaction = transaction
        self._fetch = fetch

    def load_key_check(self) -> tuple[str, bytes] | None:
        """The stored master key id and check value, if any."""
        rows = self._fetch("read the master key check", _SELECT_CHECK, ())
        if not rows:
            return None
        master_id, check = rows[0]
        assert isinstance(check, bytes)
        return str(master_id), check

    def save_key_check(self, master_id: str, check: bytes) -> tuple[str, bytes]:
        """Store the check value unless one is there; return the stored one (first writer wins)."""
        with self._transaction("store the master key check") as conn:
            conn.execute(_INSERT_CHECK, (master_id, check))
            # READ COMMITTED: a new statement sees a concurrent winner's committed row.
            row = conn.execute(_SELECT_CHECK).fetchone()
        assert row is not None
        stored_id, stored = row
        assert isinstance(stored, bytes)
        return str(stored_id), stored

    def load_data_keys(self, track: str) -> list[WrappedDataKey]:
        """Every wrapped data key of ``track``."""
        rows = self._fetch(f"read the data keys of {track!r}", _SELECT_KEYS, (track,))
        keys = []
        for version, created, master_id, wrapped in rows:
            assert isinstance(version, int)
            assert isinstance(created, int)
            assert isinstance(wrapped, bytes)
            keys.append(WrappedDataKey(track, version, created, str(master_id), wrapped))
        return keys

    def save_data_key(self, key: WrappedDataKey) -> bool:
        """Store a wrapped data key unless its version is taken."""
        with self._transaction(f"store a data key of {key.track!r}") as conn:
            row = (key.track, key.version, key.created, key.master_id, key.wrapped)
            return conn.execute(_INSERT_KEY, row).rowcount == 1


def is_encrypted(fetch: Fetch) -> bool:
    """Whether the schema has a master key check value (encryption was on)."""
    return bool(fetch("read the master key check", _SELECT_CHECK, ()))
