"""The SQLite store's side of encryption at rest (ADR-0057): its key table and sealed rows.

:class:`SQLiteDataKeys` is the :class:`~backchannel.store.encryption.DataKeyStore`
over migration 0006's ``master_key_check`` and ``data_keys`` tables;
:func:`seal_entries`, :func:`open_entry`, :func:`seal_annex` and
:func:`open_annex` turn rows into what is written and back. A row whose
``key_version`` is NULL is plain text (written without a master key).

This module holds no connection of its own: it runs statements through the
store's locked helpers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from backchannel.errors import ConfigurationError
from backchannel.store._batch import PreparedBatch
from backchannel.store.encryption import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    PayloadCipher,
    PayloadKind,
    Sealed,
    WrappedDataKey,
)

__all__ = [
    "EntryValues",
    "SQLiteDataKeys",
    "is_encrypted",
    "needs_master_key",
    "open_annex",
    "open_entry",
    "seal_annex",
    "seal_entries",
]

Transaction = Callable[[str], AbstractContextManager[sqlite3.Connection]]
Fetch = Callable[[str, str, Sequence[object]], list[tuple[object, ...]]]

EntryValues = tuple[int, bytes, bytes, int | None]
"""``(seq, signed, salt, key_version)`` as written: sealed unless ``key_version`` is ``None``."""

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


def needs_master_key(where: str) -> ConfigurationError:
    """The error for an encrypted database opened without a master key."""
    return ConfigurationError(
        f"{where} is encrypted at rest: give its master key (serve --master-key-file, "
        f"{MASTER_KEY_FILE_ENV} or {MASTER_KEY_ENV})"
    )


def seal_entries(cipher: PayloadCipher | None, prepared: PreparedBatch) -> list[EntryValues]:
    """The entry rows of a batch as written: sealed with the track's current data key, if a cipher."""
    if cipher is None:
        return [(e.seq, e.signed_bytes, e.salt, None) for e in prepared.entries]
    track = prepared.track
    rows: list[EntryValues] = []
    for e in prepared.entries:
        where = str(e.seq)
        signed = cipher.seal(track, PayloadKind.SIGNED, where, e.signed_bytes)
        salt = cipher.seal(track, PayloadKind.SALT, where, e.salt)
        rows.append((e.seq, signed.blob, salt.blob, signed.key_version))
    return rows


def open_entry(
    cipher: PayloadCipher | None, track: str, seq: int, stored: tuple[bytes, bytes, object]
) -> tuple[bytes, bytes]:
    """An entry row's plaintext signed bytes and salt, from its stored ``(signed, salt, key_version)``.

    Raises:
        ConfigurationError: the row is sealed and no master key was given.
        VerificationError: it does not open (altered, moved, or an unknown key).
    """
    signed, salt, key_version = stored
    if key_version is None:
        return signed, salt
    if cipher is None:
        raise needs_master_key(f"track {track!r}")
    assert isinstance(key_version, int)
    where = str(seq)
    return (
        cipher.open(track, PayloadKind.SIGNED, where, Sealed(key_version, signed)),
        cipher.open(track, PayloadKind.SALT, where, Sealed(key_version, salt)),
    )


def seal_annex(
    cipher: PayloadCipher | None, track: str, digest: bytes, data: bytes
) -> tuple[bytes, int | None]:
    """An annex's data as written, and the data key version (``None``: plain)."""
    if cipher is None:
        return bytes(data), None
    sealed = cipher.seal(track, PayloadKind.ANNEX, digest.hex(), bytes(data))
    return sealed.blob, sealed.key_version


def open_annex(
    cipher: PayloadCipher | None, track: str, digest: bytes, data: bytes, key_version: object
) -> bytes:
    """An annex row's plaintext data.

    Raises:
        ConfigurationError: the row is sealed and no master key was given.
        VerificationError: it does not open.
    """
    if key_version is None:
        return data
    if cipher is None:
        raise needs_master_key(f"track {track!r}")
    assert isinstance(key_version, int)
    return cipher.open(track, PayloadKind.ANNEX, digest.hex(), Sealed(key_version, data))
