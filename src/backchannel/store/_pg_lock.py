"""A track's advisory lock held across a whole load -> decide -> append (ADR-0061).

An append always takes the track's transaction-scoped advisory lock
(ADR-0055), so two nodes never both write at one size; the loser of a race
finds the size changed and decides again. When nodes keep racing on one busy
track, that wastes their work. :meth:`HeldLocks.hold` takes the same key as a
*session* lock on a pooled connection and keeps it while the caller loads the
track, decides and appends; the append then runs on that very connection (a
session may take again a key it holds), and every other node's append or
``hold`` on the track waits for it. Nothing else is held up: reads use other
connections, and other tracks other keys.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg

from backchannel.errors import ProgrammingError

__all__ = ["HeldLocks"]

Connection = psycopg.Connection[tuple[object, ...]]

_KEY = "hashtextextended('backchannel.track:' || current_schema() || ':' || %s, 0)"
_LOCK = f"SELECT pg_advisory_lock({_KEY})"
_UNLOCK = f"SELECT pg_advisory_unlock({_KEY})"


class HeldLocks:
    """The track lock each thread holds, and the connection it is held on."""

    def __init__(self) -> None:
        """Hold nothing."""
        self._local = threading.local()

    def connection(self, track: str) -> Connection | None:
        """The connection this thread holds ``track``'s lock on, if it holds it."""
        held: tuple[str, Connection] | None = getattr(self._local, "held", None)
        return held[1] if held is not None and held[0] == track else None

    @contextlib.contextmanager
    def hold(self, conn: Connection, track: str) -> Iterator[None]:
        """Take ``track``'s session lock on ``conn`` (waiting for any other holder) for the block.

        Raises:
            ProgrammingError: this thread already holds a track lock (one at a
                time: two could deadlock with a node taking them the other way round).
        """
        held = getattr(self._local, "held", None)
        if held is not None:
            raise ProgrammingError(f"this thread holds track {held[0]!r}; it cannot also hold {track!r}")
        conn.execute(_LOCK, (track,))
        self._local.held = (track, conn)
        try:
            yield
        finally:
            self._local.held = None
            # A connection lost here took its session, and with it the lock, down with it.
            with contextlib.suppress(psycopg.Error):
                conn.execute(_UNLOCK, (track,))
