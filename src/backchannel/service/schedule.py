"""The service's periodic work, by due time: only tracks with work due are visited.

The ticker (the HTTP app's lifespan task) used to walk every track of the
store on every tick, three times over (deal deadlines and deliveries, escrow
expiries, obligation step-downs): its cost followed the number of tracks, not
the work (issue #8). :class:`PeriodicWork` keeps, per track, the next time any
of that work is due, in a heap. A tick pops the tracks that are due, runs their
work, and schedules each again at its new next-due time. Anything that may
change a track's due time (a command, a lease, a heartbeat) marks the track
with :meth:`PeriodicWork.touch`, and the next tick recomputes it. The first
tick visits every track of the store once, to learn their due times (and to
restore the delivery queues, as before).

With several nodes on one database (ADR-0059), a track's work runs only on the
node holding its work lease (:class:`~backchannel.service.work.WorkLeases`, the
delivery service's): a node that does not hold it schedules the track again
for when the holder's lease ends, and takes the work over then if the holder
has not renewed it (it stopped, or died).

A track whose work fails is retried with exponential back-off (1 s doubling to
5 min), and the failure is logged once (with its traceback) and again only
when it recovers, never once per tick. A track the integrity check set aside
(:class:`~backchannel.service.integrity.DamagedTrackError`) is not scheduled
again.

This module does not decide what is due (the deal, delivery, escrow and
obligation services do) and does not sleep: the caller waits the seconds
:meth:`PeriodicWork.tick` returns.
"""

from __future__ import annotations

import heapq
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from backchannel.errors import NotFoundError
from backchannel.service.integrity import DamagedTrackError

if TYPE_CHECKING:
    from backchannel.service.deals import DealService
    from backchannel.service.delivery import DeliveryService
    from backchannel.service.escrow import EscrowService
    from backchannel.service.obligations import ObligationService
    from backchannel.service.tracks import TrackService

__all__ = ["PeriodicWork", "ScheduleStatistics", "TickResult"]

_log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
"""When work that stays due after it ran (it failed) is tried again, and the first back-off."""
MAX_BACKOFF_SECONDS = 300.0
"""The longest back-off of a failing track."""


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did.

    Attributes:
        wait: Seconds until the next track is due (``None``: none is scheduled).
        changed: Whether any track's log or queues changed (wake the waiting streams).
        visited: The tracks visited, in order.
    """

    wait: float | None
    changed: bool
    visited: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScheduleStatistics:
    """A snapshot of a :class:`PeriodicWork` (trio-style ``statistics()``).

    Attributes:
        ticks: Ticks run.
        visits: Track visits over all ticks.
        last_visits: Tracks visited by the last tick.
        scheduled: Tracks with a next due time.
        touched: Tracks waiting to have their due time recomputed.
        failing: Tracks whose last visit failed (backing off).
        set_aside: Tracks never scheduled again (damaged).
    """

    ticks: int
    visits: int
    last_visits: int
    scheduled: int
    touched: int
    failing: int
    set_aside: int


class PeriodicWork:
    """Deadlines, redeliveries, escrow expiries and ladder reviews of the tracks that are due.

    Safe to call from several threads (one tick runs at a time).
    """

    def __init__(
        self,
        tracks: TrackService,
        *,
        deals: DealService,
        delivery: DeliveryService,
        escrows: EscrowService,
        obligations: ObligationService,
    ) -> None:
        """Schedule the work of ``tracks``' tracks (every one is visited by the first tick)."""
        self._tracks = tracks
        self._deals = deals
        self._delivery = delivery
        self._escrows = escrows
        self._obligations = obligations
        self._due: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._touched: set[str] = set()
        self._failures: dict[str, int] = {}
        self._set_aside: set[str] = set()
        self._seeded = False
        self._counts = [0, 0, 0]  # ticks, visits, last visits
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()

    def touch(self, track: str) -> None:
        """Recompute ``track``'s due time at the next tick (its state may have changed)."""
        with self._lock:
            if track not in self._set_aside:
                self._touched.add(track)

    def statistics(self) -> ScheduleStatistics:
        """Counters and sizes, now."""
        with self._lock:
            ticks, visits, last = self._counts
            return ScheduleStatistics(
                ticks=ticks,
                visits=visits,
                last_visits=last,
                scheduled=len(self._due),
                touched=len(self._touched),
                failing=len(self._failures),
                set_aside=len(self._set_aside),
            )

    def tick(self, now: datetime) -> TickResult:
        """Run the work of every track that is due (or touched) at ``now``; schedule each again."""
        with self._tick_lock:
            due = self._pop_due(now)
            changed = False
            for track in due:
                changed = self._visit(track, now) or changed
            with self._lock:
                self._counts[0] += 1
                self._counts[1] += len(due)
                self._counts[2] = len(due)
                wait = self._wait(now)
            return TickResult(wait=wait, changed=changed, visited=tuple(due))

    def _pop_due(self, now: datetime) -> list[str]:
        if not self._seeded:
            self._seeded = True
            for info in self._tracks.store.list_tracks():
                self.touch(info.track)
        with self._lock:
            due = set(self._touched)
            self._touched.clear()
            while self._heap and self._heap[0][0] <= now:
                when, track = heapq.heappop(self._heap)
                if self._due.get(track) == when:  # else a stale heap entry (rescheduled since)
                    del self._due[track]
                    due.add(track)
            for track in due:
                self._due.pop(track, None)
        return sorted(due)

    def _wait(self, now: datetime) -> float | None:
        if self._touched:
            return 0.0
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # drop stale entries
        if not self._heap:
            return None
        return max(0.0, (self._heap[0][0] - now).total_seconds())

    def _schedule(self, track: str, when: datetime) -> None:
        with self._lock:
            self._due[track] = when
            heapq.heappush(self._heap, (when, track))

    def _visit(self, track: str, now: datetime) -> bool:
        work = self._delivery.work
        try:
            elsewhere = None if work is None else work.acquire(track, now)
        except Exception:  # noqa: BLE001 - the shared state failed: retry with back-off
            self._failed(track, now)
            return False
        if elsewhere is not None:
            self._schedule(track, elsewhere)  # another node holds it: look again when its lease ends
            return False
        try:
            changed, next_due = self._run(track, now)
        except NotFoundError:
            return False  # created, but no track opened in it yet (or gone): nothing to schedule
        except DamagedTrackError:
            with self._lock:
                self._set_aside.add(track)  # reported at start-up; never retried in a loop
            return False
        except Exception:  # noqa: BLE001 - one track's failure must not stop the others' work
            self._failed(track, now)
            return False
        if self._failures.pop(track, None) is not None:
            _log.warning("periodic work on track %s recovered", track)
        if next_due is not None:
            retry = now + timedelta(seconds=RETRY_SECONDS)  # still due after it ran: it failed; retry later
            self._schedule(track, retry if next_due <= now else next_due)
        return changed

    def _failed(self, track: str, now: datetime) -> None:
        failures = self._failures.get(track, 0) + 1
        self._failures[track] = failures
        backoff = min(MAX_BACKOFF_SECONDS, RETRY_SECONDS * 2 ** min(failures - 1, 16))
        if failures == 1:
            _log.exception("periodic work failed on track %s; retrying with back-off (logged once)", track)
        else:
            _log.debug("periodic work failed again on track %s (%d times)", track, failures, exc_info=True)
        self._schedule(track, now + timedelta(seconds=backoff))

    def _run(self, track: str, now: datetime) -> tuple[bool, datetime | None]:
        """Run ``track``'s due work; return whether anything changed and its next due time."""
        changed = bool(self._escrows.tick(track, now))
        changed = bool(self._deals.tick(track, now)) or changed  # prepare deadlines
        delivery_due = self._delivery.next_wakeup(track, now)
        if delivery_due is not None and delivery_due <= now:
            changed = bool(self._delivery.tick(track, now)) or changed
        changed = bool(self._obligations.tick(track, now)) or changed
        times = (
            self._escrows.next_wakeup(track),
            self._deals.next_deadline(track),
            self._delivery.next_wakeup(track, now),
            self._obligations.next_wakeup(track),
        )
        return changed, min((t for t in times if t is not None), default=None)
