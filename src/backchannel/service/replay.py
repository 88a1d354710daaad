"""The replay window: RFC 9421 nonces remembered per key and per track, each within a budget.

:class:`ReplayWindow` replaces one process-wide nonce cache (issue #8, ADR-0024).
Every ``(track, key id, nonce)`` accepted is remembered until ``created +
window``; a second use within that time is refused. Memory is bounded twice:

- **per key**: one ``(track, key id)`` holds at most ``per_key`` unexpired
  nonces. A key past its budget gets
  :class:`~backchannel.errors.RateLimitedError` whose ``retry_after`` is the
  truth: the seconds until its own oldest nonce leaves the window. Other keys
  are not affected.
- **per track**: all keys of one track hold at most ``per_track`` together, so
  a track cannot enrol keys to multiply its share; past it, the track's
  callers are told when its oldest nonce leaves.

A full budget refuses the new request rather than forgetting a nonce (fail
closed). Expired nonces are dropped in order of expiry, at each check.

**Across restarts** (ADR-0024): nonces live in memory, so a window made with
``not_before`` refuses every request whose ``created`` is before that instant
(the node sets it to the first whole second after it started, and does not
serve before then). A request created in the *future* (a client clock running
fast, within the allowed skew) would still be new after a restart, so for
those the window keeps a durable mark in a :class:`ReplayJournal` (the SQLite
store): per track and key, the latest such ``created`` accepted, written before
the request is answered. After a restart, a request of that key created at
or before its mark is refused. A well-synchronised client never causes a
write; a fast one at most one per second per key.

**Across nodes** (ADR-0059): with a :class:`NonceLedger` (the shared delivery
state), every nonce accepted is also recorded there until it expires, in the
same check, so a request replayed to another node of the same database is
refused. The budgets stay per node.

This module does not verify signatures or check the skew
(:func:`backchannel.protocol.httpsig.verify_request` does, then calls
:meth:`TrackNonces.check_and_add`).
"""

from __future__ import annotations

import heapq
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from backchannel.errors import ConfigurationError, EncodingError, RateLimitedError, VerificationError

__all__ = [
    "DEFAULT_PER_KEY",
    "DEFAULT_PER_TRACK",
    "NonceLedger",
    "ReplayJournal",
    "ReplayStatistics",
    "ReplayWindow",
    "TrackNonces",
]

DEFAULT_PER_KEY = 10_000
"""The default budget of unexpired nonces of one key of one track."""
DEFAULT_PER_TRACK = 100_000
"""The default budget of unexpired nonces of all keys of one track."""


class ReplayJournal(Protocol):
    """Where replay marks outlive the process (:class:`~backchannel.store.sqlite.SQLiteEventStore`)."""

    def raise_replay_mark(self, track: str, key_id: str, created: int) -> None:
        """Keep ``created`` (Unix seconds) as the key's mark if it is later than the one kept."""
        ...

    def replay_marks(self, since: int) -> dict[tuple[str, str], int]:
        """Every mark at or after ``since``; older ones may be dropped."""
        ...


class NonceLedger(Protocol):
    """Where the nodes of one database record nonces (the shared delivery state, ADR-0059)."""

    def add_nonce(self, track: str, key_id: str, nonce: str, expires: datetime, now: datetime) -> bool:
        """Record a nonce until ``expires``; False if it is held unexpired at ``now`` (a replay)."""
        ...


@dataclass(frozen=True, slots=True)
class ReplayStatistics:
    """A snapshot of a :class:`ReplayWindow` (trio-style ``statistics()``).

    Attributes:
        nonces: Unexpired nonces held (expired ones linger until the next check).
        keys: ``(track, key id)`` pairs holding nonces.
        tracks: Tracks holding nonces.
        accepted: Nonces accepted since the window was made.
        replays_refused: Requests refused as replays (or as older than the window or the start).
        budget_refusals: Requests refused because a key's or a track's budget was full.
    """

    nonces: int
    keys: int
    tracks: int
    accepted: int
    replays_refused: int
    budget_refusals: int


class _Budget:
    """The expiry times of one key's (or one track's) nonces, earliest first."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[datetime] = []


class ReplayWindow:
    """Remembers nonces per ``(track, key id)`` until ``created + window``, within budgets.

    Safe to share between threads.
    """

    def __init__(  # noqa: PLR0913 - the window, then its options, keyword-only
        self,
        window: timedelta,
        *,
        per_key: int = DEFAULT_PER_KEY,
        per_track: int = DEFAULT_PER_TRACK,
        not_before: datetime | None = None,
        journal: ReplayJournal | None = None,
        ledger: NonceLedger | None = None,
    ) -> None:
        """Create an empty window.

        Args:
            window: How long after ``created`` a nonce is remembered; at least
                the verifier's allowed skew.
            per_key: The most unexpired nonces of one key of one track.
            per_track: The most unexpired nonces of all keys of one track.
            not_before: Refuse requests created before this instant (the
                node's start; ``None``: no such rule).
            journal: Where the marks of future-dated requests are kept across
                restarts (``None``: nowhere); the marks it holds at or after
                ``not_before`` are loaded now.
            ledger: Where the nonces are shared with the other nodes of the
                database (``None``: this node only).

        Raises:
            ConfigurationError: a window that is not positive, or a budget below one.
        """
        if window <= timedelta(0):
            raise ConfigurationError(f"replay window must be positive, got {window}")
        for name, value in (("per_key", per_key), ("per_track", per_track)):
            if value < 1:
                raise ConfigurationError(f"replay budget {name} must be at least 1, got {value}")
        self._window = window
        self._per_key = per_key
        self._per_track = per_track
        self._not_before = not_before
        self._expiry: dict[tuple[str, str, str], datetime] = {}
        self._heap: list[tuple[datetime, str, str, str]] = []
        self._keys: dict[tuple[str, str], _Budget] = {}
        self._tracks: dict[str, _Budget] = {}
        self._counts = [0, 0, 0]  # accepted, replays refused, budget refusals
        self._lock = threading.Lock()
        self._journal = journal
        self._ledger = ledger
        since = 0 if not_before is None else math.floor(not_before.timestamp())
        self._restart_marks = {} if journal is None else journal.replay_marks(since)
        self._marks: dict[tuple[str, str], int] = dict(self._restart_marks)

    @property
    def window(self) -> timedelta:
        """How long after ``created`` a nonce is remembered."""
        return self._window

    @property
    def not_before(self) -> datetime | None:
        """Requests created before this instant are refused (``None``: no such rule)."""
        return self._not_before

    def for_track(self, track: str) -> TrackNonces:
        """The nonce store ``verify_request`` uses for one track's requests."""
        return TrackNonces(self, track)

    def statistics(self) -> ReplayStatistics:
        """Counters and sizes, now."""
        with self._lock:
            accepted, replays, budget = self._counts
            return ReplayStatistics(
                nonces=len(self._expiry),
                keys=len(self._keys),
                tracks=len(self._tracks),
                accepted=accepted,
                replays_refused=replays,
                budget_refusals=budget,
            )

    def check_and_add(self, track: str, key_id: str, nonce: str, created: datetime, now: datetime) -> None:
        """Record a nonce of ``track``'s key ``key_id``, refusing a replay or a full budget.

        Raises:
            VerificationError: the nonce was seen and has not expired, or
                ``created`` is older than the window, or before ``not_before``.
            RateLimitedError: the key's or the track's budget is full;
                ``retry_after`` is when its oldest nonce leaves the window.
            EncodingError: a naive datetime.
        """
        if created.tzinfo is None or now.tzinfo is None:
            raise EncodingError("created and now must be timezone-aware")
        expires = created + self._window
        with self._lock:
            try:
                self._refuse_stale(nonce, created, now, expires)
                self._refuse_marked(track, key_id, created)
            except VerificationError:
                self._counts[1] += 1
                raise
            self._expire(now)
            entry = (track, key_id, nonce)
            if entry in self._expiry:
                self._counts[1] += 1
                raise VerificationError(
                    f"replayed nonce {nonce!r} for key {key_id} (seen within {_seconds(self._window)} s)"
                )
            key_budget = self._keys.get((track, key_id)) or _Budget()
            track_budget = self._tracks.get(track) or _Budget()
            self._check_budget(key_budget, self._per_key, f"key {key_id} of track {track!r}", now)
            self._check_budget(track_budget, self._per_track, f"track {track!r}", now)
            if self._ledger is not None and not self._ledger.add_nonce(track, key_id, nonce, expires, now):
                self._counts[1] += 1
                raise VerificationError(
                    f"replayed nonce {nonce!r} for key {key_id} (seen by another node within "
                    f"{_seconds(self._window)} s)"
                )
            self._mark(track, key_id, created, now)  # durable first: a failure refuses the request
            self._keys[(track, key_id)] = key_budget
            self._tracks[track] = track_budget
            self._expiry[entry] = expires
            heapq.heappush(self._heap, (expires, track, key_id, nonce))
            heapq.heappush(key_budget.heap, expires)
            heapq.heappush(track_budget.heap, expires)
            self._counts[0] += 1

    def _refuse_stale(self, nonce: str, created: datetime, now: datetime, expires: datetime) -> None:
        if expires < now:
            raise VerificationError(
                f"nonce {nonce!r}: created {created.isoformat()} is older than the replay window "
                f"({_seconds(self._window)} s), so its replay cannot be ruled out"
            )
        if self._not_before is not None and created < self._not_before:
            raise VerificationError(
                f"created {created.isoformat()} is before this service started "
                f"({self._not_before.isoformat()}): a request signed before a restart is refused, "
                "since its replay cannot be ruled out; sign it again"
            )

    def _refuse_marked(self, track: str, key_id: str, created: datetime) -> None:
        mark = self._restart_marks.get((track, key_id))
        if mark is not None and created.timestamp() <= mark:
            raise VerificationError(
                f"created {created.isoformat()} is at or before the latest future-dated request key "
                f"{key_id} sent before this service restarted: its replay cannot be ruled out; sign it again"
            )

    def _mark(self, track: str, key_id: str, created: datetime, now: datetime) -> None:
        seconds = math.floor(created.timestamp())
        if self._journal is None or created <= now or seconds <= self._marks.get((track, key_id), -1):
            return
        self._journal.raise_replay_mark(track, key_id, seconds)
        self._marks[(track, key_id)] = seconds

    def _check_budget(self, budget: _Budget, limit: int, what: str, now: datetime) -> None:
        if len(budget.heap) < limit:
            return
        self._counts[2] += 1
        retry_after = max(1, math.ceil((budget.heap[0] - now).total_seconds()))
        raise RateLimitedError(
            f"replay budget full: {what} holds {limit} unexpired nonces (at most {limit} requests per "
            f"{_seconds(self._window)} s window); the oldest leaves the window in {retry_after} s",
            retry_after=retry_after,
            limit=limit,
        )

    def _expire(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] < now:
            _, track, key_id, nonce = heapq.heappop(self._heap)
            del self._expiry[(track, key_id, nonce)]
            key_budget = self._keys[(track, key_id)]
            heapq.heappop(key_budget.heap)  # its earliest is this one (or one of an equal time)
            if not key_budget.heap:
                del self._keys[(track, key_id)]
            track_budget = self._tracks[track]
            heapq.heappop(track_budget.heap)
            if not track_budget.heap:
                del self._tracks[track]


class TrackNonces:
    """One track's view of a :class:`ReplayWindow`: what ``verify_request`` takes."""

    __slots__ = ("_track", "_window")

    def __init__(self, window: ReplayWindow, track: str) -> None:
        """Bind ``window`` to ``track`` (use :meth:`ReplayWindow.for_track`)."""
        self._window = window
        self._track = track

    @property
    def window(self) -> timedelta:
        """How long after ``created`` a nonce is remembered."""
        return self._window.window

    def check_and_add(self, key_id: str, nonce: str, created: datetime, now: datetime) -> None:
        """Record a nonce of this track (see :meth:`ReplayWindow.check_and_add`)."""
        self._window.check_and_add(self._track, key_id, nonce, created, now)


def _seconds(delta: timedelta) -> int:
    return math.ceil(delta.total_seconds())
