"""The start-up integrity check: a damaged track is set aside, a damaged file is not served.

Before the service serves a store (issue #8), :func:`check_store` runs:

1. SQLite's own ``PRAGMA quick_check`` (``integrity_check`` with ``full``),
   when the store offers it. A file that fails it (a flipped page header, a
   torn b-tree) raises :class:`DamagedStoreError`: the node does not start,
   and says why, instead of logging tracebacks on every tick.
2. Per track, the quick check of
   :func:`~backchannel.service.export.check_track_on_open` (the latest
   checkpoint verifies under the log key, the stored tree's root matches it,
   the last entry matches its leaf), then a scan of every entry recomputing its
   leaf hash from the stored bytes and salt, so one flipped byte in any entry
   is found (SHA-256 only: cheap next to the fold the service does anyway).
   With ``full``, :func:`~backchannel.service.export.verify_store` instead
   (every signature, node and checkpoint). A track that fails is reported
   with the first bad index and why; the healthy ones are served.

A track set aside answers :class:`DamagedTrackError` (503, naming the index
and why) to every request, and the periodic work never visits it.

This module does not repair anything, and does not check tracks again while
the service runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backchannel.errors import ProgrammingError, StorageError, VerificationError
from backchannel.service.export import check_track_on_open, verify_store
from backchannel.store.base import EventStore

__all__ = ["DamagedStoreError", "DamagedTrackError", "IntegrityReport", "check_store", "check_track"]


class DamagedTrackError(ProgrammingError):
    """A track failed the start-up integrity check and is not served.

    Attributes:
        track: The track.
        index: The first bad log index (``None`` when the failure names none).
        reason: Why it failed.
    """

    def __init__(self, track: str, index: int | None, reason: str) -> None:
        """Create the error naming the track, the index and why."""
        where = "" if index is None else f" at index {index}"
        super().__init__(
            f"track {track!r} is not served: its log failed the integrity check at start-up{where}: "
            f"{reason} (restore the data directory from a backup; `backchannel log verify` shows more)"
        )
        self.track = track
        self.index = index
        self.reason = reason


class DamagedStoreError(ProgrammingError):
    """The store's file failed its own integrity check: the service does not start on it."""


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """What :func:`check_store` found.

    Attributes:
        tracks: Every track checked, in store order.
        damaged: The tracks that failed: track -> (first bad index or ``None``, why).
        full: Whether the full check ran.
    """

    tracks: tuple[str, ...]
    damaged: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    full: bool = False

    @property
    def healthy(self) -> tuple[str, ...]:
        """The tracks that passed."""
        return tuple(t for t in self.tracks if t not in self.damaged)

    def error(self, track: str) -> DamagedTrackError:
        """The error a request to a damaged ``track`` gets (a new instance each time)."""
        index, reason = self.damaged[track]
        return DamagedTrackError(track, index, reason)


def check_track(store: EventStore, track: str, *, full: bool = False) -> None:
    """Check one track (see the module docstring).

    Raises:
        VerificationError: it does not verify; ``index`` names the first bad entry.
    """
    if full:
        verify_store(store, track)
        return
    check_track_on_open(store, track)
    for stored in store.read(track):
        if stored.computed_leaf_hash() != stored.leaf_hash:
            raise VerificationError(
                f"entry {stored.seq}: the stored entry does not match its leaf hash "
                "(its bytes or salt were altered)",
                index=stored.seq,
            )


def check_store(
    store: EventStore, *, full: bool = False, progress: Callable[[str], None] | None = None
) -> IntegrityReport:
    """Check the store's file, then every track; set nothing aside itself.

    Args:
        store: The store.
        full: Run SQLite's ``integrity_check`` and :func:`verify_store` per track.
        progress: Called with each track's name before it is checked.

    Returns:
        Which tracks were checked and which failed (index and why).

    Raises:
        DamagedStoreError: the file fails SQLite's own check, or cannot be read at all.
    """
    _check_file(store, full=full)
    try:
        tracks = tuple(info.track for info in store.list_tracks())
    except StorageError as e:
        raise DamagedStoreError(f"the store cannot list its tracks: {e}") from e
    damaged: dict[str, tuple[int | None, str]] = {}
    for track in tracks:
        if progress is not None:
            progress(track)
        try:
            check_track(store, track, full=full)
        except VerificationError as e:
            damaged[track] = (e.index, str(e))
        except StorageError as e:
            damaged[track] = (None, f"the store failed to read it: {e}")
    return IntegrityReport(tracks=tracks, damaged=damaged, full=full)


def _check_file(store: EventStore, *, full: bool) -> None:
    quick_check = getattr(store, "quick_check", None)
    if quick_check is None:
        return  # a store without a file of its own (memory) has nothing to check here
    # SQLite runs its own PRAGMA; another database names its check (PostgreSQL: the schema check)
    name = getattr(store, "check_name", None)
    if name is None:
        own, fails = "SQLite's own check", f"SQLite's {'integrity_check' if full else 'quick_check'}"
        remedy = "restore the data directory from a backup"
    else:
        own = fails = f"the {name}"
        remedy = "restore the database from a backup"
    try:
        problems: list[str] = quick_check(full=full)
    except StorageError as e:
        raise DamagedStoreError(f"the database fails {own} and is not served: {e}; {remedy}") from e
    if problems:
        shown = "; ".join(problems[:5])
        raise DamagedStoreError(f"the database fails {fails} and is not served: {shown}; {remedy}")
