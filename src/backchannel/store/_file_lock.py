"""Per-track file locks: SQLite nodes on one data directory queue on a contended track (ADR-0061).

SQLite serialises writers, but a node decides a group on the state it folded
and appends afterwards, so two processes on one file can race (the loser's
size check fails and it decides again). On PostgreSQL a node that lost a race
decides again holding the track's advisory lock. Here the same role is played
by an exclusive ``flock`` on a file per track, beside the database
(``.<database name>.locks/<sha256 of the track, 32 hex>.lock``, hidden, so a
``backchannel.sqlite3*`` glob still names just the database files): :meth:`TrackFileLocks.hold`
takes it for a whole load-decide-append, and every append takes it too, so a
process holding it is never overtaken. ``flock`` locks belong to an open file,
so two threads of one process exclude each other as two processes do; the
kernel drops a lock when its holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from backchannel.errors import ProgrammingError

__all__ = ["TrackFileLocks"]


class TrackFileLocks:
    """The per-track lock files of one database, and which track each thread holds."""

    def __init__(self, database: str) -> None:
        """Keep the lock files of ``database`` (a file path) in ``.<its name>.locks`` beside it."""
        path = Path(database)
        self.directory = path.with_name(f".{path.name}.locks")
        self._local = threading.local()

    @contextlib.contextmanager
    def hold(self, track: str) -> Iterator[None]:
        """Hold ``track``'s lock for the block (waiting for any other holder); re-entrant in a thread.

        Raises:
            ProgrammingError: this thread holds another track (one at a time: two could deadlock).
        """
        held: str | None = getattr(self._local, "held", None)
        if held == track:
            yield
            return
        if held is not None:
            raise ProgrammingError(f"this thread holds track {held!r}; it cannot also hold {track!r}")
        self.directory.mkdir(mode=0o700, exist_ok=True)
        name = hashlib.sha256(track.encode()).hexdigest()[:32]
        fd = os.open(self.directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._local.held = track
            try:
                yield
            finally:
                self._local.held = None
        finally:
            os.close(fd)  # releases the lock
