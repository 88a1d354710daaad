"""Sealing a store's rows for encryption at rest (ADR-0057), for any store.

:func:`seal_entries`, :func:`open_entry`, :func:`seal_annex` and
:func:`open_annex` turn a batch's entry rows and annex data into what a store
writes (sealed with a :class:`~backchannel.store.encryption.PayloadCipher`,
or as they are without one) and back. A stored row carries the data key
version that sealed it; ``None`` (SQL NULL) means plain text. The SQLite store
uses these; another store (PostgreSQL) uses them the same way with its own
:class:`~backchannel.store.encryption.DataKeyStore`.

This module performs no I/O of its own (the cipher may read or store data keys
through the store's ``DataKeyStore``: call these outside the store's write
transaction).
"""

from __future__ import annotations

from backchannel.errors import ConfigurationError
from backchannel.store._batch import PreparedBatch
from backchannel.store.encryption import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    PayloadCipher,
    PayloadKind,
    Sealed,
)

__all__ = [
    "EntryValues",
    "needs_master_key",
    "open_annex",
    "open_entry",
    "seal_annex",
    "seal_entries",
]

EntryValues = tuple[int, bytes, bytes, int | None]
"""``(seq, signed, salt, key_version)`` as written: sealed unless ``key_version`` is ``None``."""


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
