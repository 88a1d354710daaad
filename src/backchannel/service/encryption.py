"""Encryption at rest, for the command line: make a master key, rotate data keys (ADR-0057).

:func:`create_master_key` writes a master key file; :func:`rotate_data_keys`
opens the store (the data directory's SQLite file, or the PostgreSQL store the
settings name) with its master key and gives one track, or every track, a new
data key. The cipher itself is
:mod:`backchannel.store.encryption`.

This module prints nothing and never returns a key, only key ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from backchannel.errors import ConfigurationError
from backchannel.service.config import Settings
from backchannel.store.encryption import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, write_master_key_file
from backchannel.store.sqlite import SQLiteEventStore

if TYPE_CHECKING:
    from backchannel.store.postgres import PostgresEventStore

__all__ = ["MASTER_KEY_ENV", "MASTER_KEY_FILE_ENV", "create_master_key", "rotate_data_keys"]


def create_master_key(path: Path) -> str:
    """Write a fresh master key to ``path`` (mode 0600, never overwriting one).

    Returns:
        The key's id (``mk:...``).

    Raises:
        ConfigurationError: the file exists or cannot be written.
    """
    return write_master_key_file(path).key_id


def rotate_data_keys(settings: Settings, track: str | None = None) -> list[tuple[str, int]]:
    """Give ``track`` (default: every track) a new data key: later writes use it, old rows still read.

    Returns:
        ``(track, new version)`` for each track rotated.

    Raises:
        ConfigurationError: no master key configured, a wrong one, or no database.
        NotFoundError: an unknown ``track``.
        StorageError: the PostgreSQL store is unreachable or failed.
    """
    if settings.master_key is None:
        raise ConfigurationError(
            f"rotate-key needs the master key: pass --master-key-file, or set {MASTER_KEY_FILE_ENV} "
            f"or {MASTER_KEY_ENV}"
        )
    master = settings.master_key.load()
    store: SQLiteEventStore | PostgresEventStore
    if settings.store_url is not None:
        from backchannel.store.postgres import PostgresEventStore  # loads psycopg

        store = PostgresEventStore(settings.store_url, max_size=2, master_key=master)
    elif not settings.database.exists():
        raise ConfigurationError(f"no database at {settings.database}: is --data-dir right?")
    else:
        store = SQLiteEventStore(settings.database, master_key=master)
    with store:
        tracks = [track] if track is not None else [info.track for info in store.list_tracks()]
        return [(name, store.rotate_data_key(name)) for name in tracks]
