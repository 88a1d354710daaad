"""Settings and the data directory: where the store and the log key live.

An embedded deployment is one directory::

    <data_dir>/backchannel.sqlite3     the SQLite store (WAL)
    <data_dir>/log.key                 the log's checkpoint signing key (0600)

With a store URL (``--store postgresql://...`` or ``BACKCHANNEL_STORE``), the
tracks live in PostgreSQL instead (:class:`~backchannel.store.postgres.PostgresEventStore`);
the log key and the node key still live in the data directory.

:func:`open_log` opens both and returns a :class:`LogNode` (store + writer) to
be closed after use. The directory is created with mode 0700 on first use and
the log key generated then. With a master key (``master_key``: a file, or
``BACKCHANNEL_MASTER_KEY_FILE`` / ``BACKCHANNEL_MASTER_KEY``), the store seals
payloads at rest (ADR-0057).

This module does not parse command lines (see :mod:`backchannel.cli`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from backchannel.clock import Clock
from backchannel.errors import ConfigurationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.protocol.keyfile import KeyPair, read_or_create_key_file
from backchannel.service.annexes import DEFAULT_MAX_ANNEX_BYTES
from backchannel.service.export import check_track_on_open
from backchannel.service.log import LogWriter
from backchannel.store.base import EventStore
from backchannel.store.encryption import MasterKeySource
from backchannel.store.sqlite import SQLiteEventStore

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_LOG_NAME", "LogNode", "Settings", "open_log"]

DEFAULT_DATA_DIR = Path(".backchannel")
DEFAULT_LOG_NAME = "backchannel.local"
_STORE_SCHEMES = frozenset({"postgresql", "postgres"})
_LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Where and how the service keeps its log.

    Attributes:
        data_dir: The data directory.
        log_name: The log's name: the signer name on checkpoints and the
            prefix of every track's origin.
        annex_max_bytes: The largest annex blob the service accepts (default 1 MiB).
        store_url: A ``postgresql://`` URL of the store (default ``None``: SQLite
            in the data directory).
        master_key: Where the master key that encrypts payloads at rest is read
            from (``None``: stored in plain text; ADR-0057).
    """

    data_dir: Path = DEFAULT_DATA_DIR
    log_name: str = DEFAULT_LOG_NAME
    annex_max_bytes: int = DEFAULT_MAX_ANNEX_BYTES
    store_url: str | None = None
    master_key: MasterKeySource | None = None

    def __post_init__(self) -> None:
        """Validate the log name, the annex size limit and the store URL."""
        if not _LOG_NAME.fullmatch(self.log_name):
            raise ConfigurationError(
                f"log_name {self.log_name!r} must be 1-128 characters of letters, digits and . _ / -"
            )
        if self.annex_max_bytes < 1:
            raise ConfigurationError(f"annex_max_bytes must be at least 1, got {self.annex_max_bytes}")
        if self.store_url is not None:
            check_store_url(self.store_url)

    @classmethod
    def embedded(
        cls,
        data_dir: Path | str | None = None,
        log_name: str = DEFAULT_LOG_NAME,
        *,
        annex_max_bytes: int = DEFAULT_MAX_ANNEX_BYTES,
        store_url: str | None = None,
        master_key_file: Path | None = None,
    ) -> Settings:
        """The embedded default, honouring ``BACKCHANNEL_DATA_DIR``, ``BACKCHANNEL_STORE`` and the master key.

        Raises:
            ConfigurationError: both master key variables are set.
        """
        chosen = data_dir or os.environ.get("BACKCHANNEL_DATA_DIR") or DEFAULT_DATA_DIR
        store = store_url or os.environ.get("BACKCHANNEL_STORE") or None
        master = (
            MasterKeySource(path=master_key_file) if master_key_file else MasterKeySource.from_environment()
        )
        return cls(
            data_dir=Path(chosen),
            log_name=log_name,
            annex_max_bytes=annex_max_bytes,
            store_url=store,
            master_key=master,
        )

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "backchannel.sqlite3"

    @property
    def log_key_file(self) -> Path:
        """The log key file."""
        return self.data_dir / "log.key"


def check_store_url(url: str) -> None:
    """Refuse a store URL that is not a well-formed ``postgresql://`` URL.

    Raises:
        ConfigurationError: another scheme, or options libpq does not accept
            (the message names ``--store`` and never shows a password).
    """
    from psycopg import Error as DriverError  # psycopg is loaded only for a PostgreSQL store
    from psycopg.conninfo import conninfo_to_dict

    from backchannel.store._pg_schema import redact

    shown = redact(url)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _STORE_SCHEMES:
        raise ConfigurationError(
            f"--store {shown!r}: the store must be a postgresql://user@host:port/database URL "
            "(leave --store out to keep SQLite in the data directory)"
        )
    try:
        conninfo_to_dict(url)
    except DriverError as e:
        raise ConfigurationError(f"--store {shown!r} is not a valid PostgreSQL URL: {e}") from None


class LogNode:
    """An open store plus the writer that signs its checkpoints. Close it after use."""

    def __init__(self, store: EventStore, writer: LogWriter) -> None:
        """Bundle an open store and its writer."""
        self.store = store
        self.writer = writer

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        """Use as a context manager."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close on exit."""
        self.close()


def _log_keys(settings: Settings, *, create: bool) -> KeyPair:
    if not create and not settings.log_key_file.exists():
        raise ConfigurationError(
            f"no log key at {settings.log_key_file}: {settings.data_dir} is not a data directory"
        )
    # created exclusively: of several nodes starting together on a new data directory, one key wins
    keys = read_or_create_key_file(settings.log_key_file, lambda: KeyPair.generate(settings.log_name))
    if keys.name != settings.log_name:
        raise ConfigurationError(
            f"{settings.log_key_file} is the key of log {keys.name!r}, not {settings.log_name!r}"
        )
    return keys


def _open_store(settings: Settings, *, create: bool) -> EventStore:
    """The data directory's SQLite store, or the PostgreSQL store the settings name."""
    master = settings.master_key.load() if settings.master_key is not None else None
    if settings.store_url is not None:
        from backchannel.store.postgres import PostgresEventStore  # loads psycopg

        return PostgresEventStore(settings.store_url, master_key=master)
    if not create and not settings.database.exists():
        raise ConfigurationError(
            f"no database at {settings.database}: {settings.data_dir} is not a data directory"
        )
    return SQLiteEventStore(settings.database, master_key=master)


def open_log(
    settings: Settings, *, clock: Clock | None = None, create: bool = True, check: bool = False
) -> LogNode:
    """Open the data directory's log key and the store (SQLite there, or PostgreSQL at ``store_url``).

    Args:
        settings: Where the data lives.
        clock: The writer's clock (default: system clock).
        create: Create the directory, database and log key if missing.
        check: Check every track on open (:func:`check_track_on_open`): a
            store that fails says which index and why, before anything is
            appended to it.

    Raises:
        ConfigurationError: the directory, key or database is missing (and
            ``create`` is false), the key file is bad, or the master key is
            bad, wrong, or missing for an encrypted database.
        StorageError: the database cannot be opened.
        VerificationError: ``check`` found a track that does not verify.
    """
    if not settings.data_dir.is_dir():
        if not create:
            raise ConfigurationError(
                f"no data directory at {settings.data_dir} (run a command that creates it)"
            )
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # another node may win the race
    keys = _log_keys(settings, create=create)
    store = _open_store(settings, create=create)
    try:
        if check:
            for info in store.list_tracks():
                check_track_on_open(store, info.track)
    except BaseException:
        store.close()
        raise
    writer = LogWriter(store, NoteSigner(settings.log_name, keys.signing), clock=clock)
    return LogNode(store, writer)
