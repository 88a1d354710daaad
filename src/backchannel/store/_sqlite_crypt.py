"""The SQLite store's key table for encryption at rest (ADR-0057).

:class:`SQLiteDataKeys` is the :class:`~backchannel.store.encryption.DataKeyStore`
over migration 0006's ``master_key_check`` and ``data_keys`` tables;
:func:`is_encrypted` tells whether a database was ever opened with a master
key. Rows are sealed and opened by :mod:`backchannel.store.sealing`.

This module holds no connection of its own: it runs statements through the
store's locked helpers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from backchannel.store.encryption import WrappedDataKey

__all__ = ["SQLiteDataKeys", "is_encrypted"]

Transaction = Callable[[str], AbstractContextManager[sqlite3.Connection]]
Fetch = Callable[[str, str, Sequence[object]], list[tuple[object, ...]]]

_INSERT_CHECK = (
    "INSERT INTO master_key_check (id, master_id, check_value, created)"
    " VALUES (1, ?, ?, strftime('%s', 'now')) ON CONFLICT (id) DO NOTHING"
)
_SELECT_CHECK = "SELECT master_id, check_value FROM master_key_check WHERE id = 1"
_SELECT_KEYS = "SELECT version, created, master_id, wrapped FROM data_keys WHERE track = ?"
_INSERT_KEY = (
    "INSERT INTO data_keys (track, version, created, master_id, wrapped) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (track, version) DO NOTHING"
)


class SQLiteDataKeys:
    """The check value and wrapped data keys in the store's own database.

    Args:
        transaction: The store's ``BEGIN IMMEDIATE`` helper (takes its lock).
        fetch: The store's one-statement read helper (takes its lock).
    """

    def __init__(self, transaction: Transaction, fetch: Fetch) -> None:
        """Use the store's locked helpers."""
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
        """Store the check value unless one is there; return the stored one."""
        with self._transaction("store the master key check") as conn:
            conn.execute(_INSERT_CHECK, (master_id, check))
            stored_id, stored = conn.execute(_SELECT_CHECK).fetchone()
        return str(stored_id), bytes(stored)

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
    """Whether the database has a master key check value (encryption was on)."""
    return bool(fetch("read the master key check", _SELECT_CHECK, ()))
