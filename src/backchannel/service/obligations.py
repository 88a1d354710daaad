"""The obligation service: time-driven steps down, and the read view (ADR-0018).

:class:`ObligationService` runs the one time-driven part of obligations.
A step down the ladder is due at an exact instant that the domain computes
(:meth:`~backchannel.domain.agreements.obligations.ObligationRecord.next_step_down`).
When that instant has passed, :meth:`ObligationService.tick` signs a
``review_obligation`` command as the service member ``<mediator>/service``,
and the domain logs an ``obligation.deescalated`` event for each step due.

The idempotency key is derived from the obligation and the number of ladder
steps it has taken: ``obligation-review:<id>:<steps>``. A re-tick, a restart,
or two nodes ticking at once therefore log each step once. The loser of a race
gets an idempotency conflict, or finds nothing due, and stops.

A review only makes a due step visible sooner. The next consumption record
would take the same step at the same instant anyway (domain rules), so the
ladder history does not depend on when, or whether, the ticker runs.

:func:`obligation_view` is the read model behind
``GET /v1/tracks/{track}/obligations/{id}``: the terms, the current level and
tokens, and the ladder history. It follows the visibility rule: the
mediator, the bound party, inspectors and the parties the obligation is
shared with. Anyone else gets the same :class:`~backchannel.errors.NotFoundError`
as for an unknown id.

This module does not speak HTTP and does not run a timer: ``api/app.py``'s
ticker calls :meth:`ObligationService.tick_due`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from backchannel.clock import Clock
from backchannel.domain import TrackState
from backchannel.domain.agreements.obligation_events import spec_to_dict
from backchannel.domain.agreements.obligation_rules import obligation_visible_to
from backchannel.domain.agreements.obligations import ObligationRecord, micro_text
from backchannel.domain.errors import IdempotencyConflictError, TrackStateError
from backchannel.errors import NotFoundError
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.tracks import CommandResult, TrackService

__all__ = ["ObligationService", "ObligationStatistics", "obligation_view", "review_key"]

_log = logging.getLogger(__name__)


def review_key(record: ObligationRecord) -> str:
    """The idempotency key of the review that takes ``record``'s next step down."""
    return f"obligation-review:{record.spec.obligation}:{len(record.steps)}"


@dataclass(frozen=True, slots=True)
class ObligationStatistics:
    """A snapshot of an :class:`ObligationService`, the obligation monitor (trio ``statistics()`` style).

    Attributes:
        sweeps: Calls of :meth:`ObligationService.tick_due` so far.
        reviews_signed: Reviews appended (steps down taken).
        reviews_skipped: Due steps found already logged, or taken by another writer.
        track_failures: Tracks whose review failed during a sweep (logged, retried later).
    """

    sweeps: int
    reviews_signed: int
    reviews_skipped: int
    track_failures: int


class ObligationService:
    """Signs the reviews that take due steps down, for every track in a store.

    Args:
        tracks: The track service (its store holds the tracks).
        node: The service node's keys (it signs as ``<mediator>/service``).
        clock: The clock that says what is due.
    """

    def __init__(self, tracks: TrackService, node: KeyPair, *, clock: Clock) -> None:
        """Create the service."""
        self._tracks = tracks
        self._node = node
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("sweeps", "signed", "skipped", "failures"), 0)

    def statistics(self) -> ObligationStatistics:
        """What the monitor has done so far."""
        with self._lock:
            return ObligationStatistics(
                sweeps=self._counts["sweeps"],
                reviews_signed=self._counts["signed"],
                reviews_skipped=self._counts["skipped"],
                track_failures=self._counts["failures"],
            )

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def due(self, track: str, now: datetime | None = None) -> list[str]:
        """The obligations of ``track`` with a step down due at ``now``, in id order."""
        state = self._tracks.state(track)
        if state is None:
            return []
        at = now or self._clock.now()
        return [
            o
            for o in sorted(state.obligations)
            if (when := state.obligations[o].next_step_down()) is not None and when <= at
        ]

    def next_wakeup(self, track: str) -> datetime | None:
        """The earliest step down due on ``track`` (``None``: none will be, absent new records)."""
        state = self._tracks.state(track)
        if state is None:
            return None
        times = [w for r in state.obligations.values() if (w := r.next_step_down()) is not None]
        return min(times, default=None)

    def tick(self, track: str, now: datetime | None = None) -> list[CommandResult]:
        """Review every obligation of ``track`` with a step down due; return what was appended.

        Idempotent: a step already logged is not logged again (see the module docstring).
        """
        results: list[CommandResult] = []
        for obligation in self.due(track, now):
            result = self._review(track, obligation)
            self._count("skipped" if result is None else "signed")
            if result is not None:
                results.append(result)
        return results

    def _review(self, track: str, obligation: str) -> CommandResult | None:
        state = self._tracks.state(track)
        assert state is not None  # due() found the obligation in it
        key = review_key(state.obligations[obligation])
        if state.idempotent_result(state.service_member, key) is not None:
            return None
        signed = sign_command(
            self._node.signing,
            track=track,
            command="review_obligation",
            member=state.service_member,
            body={"obligation": obligation},
            issued_at=self._clock.now(),
            nonce=hashlib.sha256(key.encode()).hexdigest()[:32],
            idempotency_key=key,
        )
        try:
            result = self._tracks.execute(signed)
        except (IdempotencyConflictError, TrackStateError):
            return None  # another node (or a record) took the step since we looked
        return None if result.replayed else result

    def tick_due(self, now: datetime | None = None) -> float | None:
        """Tick every track of the store; the seconds until the next step down is due.

        ``None`` when none is due later (a step that is still due after its
        review failed is retried at the caller's usual pace, not in a busy loop).
        """
        at = now or self._clock.now()
        self._count("sweeps")
        wait: float | None = None
        for info in self._tracks.store.list_tracks():
            try:
                self.tick(info.track, at)
                due = self.next_wakeup(info.track)
            except Exception:  # noqa: BLE001 - one track's failure must not stop the others' reviews
                _log.exception("obligation review failed on track %s", info.track)
                self._count("failures")
                continue
            if due is not None and due > at:  # still due after the tick: it failed; retry at the usual pace
                seconds = (due - at).total_seconds()
                wait = seconds if wait is None else min(wait, seconds)
        return wait


def obligation_view(state: TrackState, member: str, obligation: str, now: datetime) -> dict[str, JSONValue]:
    """The read model of one obligation, for ``member`` at ``now``.

    Returns:
        The terms; ``level``, ``tier``, ``tokens`` (at ``now``, decimal text
        rounded down), ``next_step_down``; the counters; and ``history``, one
        item per ladder step (``direction`` ``up`` or ``down``).

    Raises:
        NotFoundError: no such obligation, or ``member`` may not see it (one answer).
    """
    record = state.obligations.get(obligation)
    reader = state.members.get(member)
    if record is None or reader is None or not obligation_visible_to(state, reader.party, record):
        raise NotFoundError(f"no obligation {obligation!r} on track {state.track!r}")
    spec = record.spec
    due = record.next_step_down()
    history: list[JSONValue] = [
        {
            "direction": "up" if step.to_level > step.from_level else "down",
            "effective_at": format_timestamp(step.effective_at),
            "from_level": step.from_level,
            "to_level": step.to_level,
            "from_tier": spec.tier(step.from_level),
            "to_tier": spec.tier(step.to_level),
            "decided_at": format_timestamp(step.decided_at),
            "command_digest": step.command_digest.hex(),
            "source": step.source,
            "observed_at": None if step.observed_at is None else format_timestamp(step.observed_at),
            "overdraw": step.overdraw,
            "tokens": step.tokens,
            "held_since": None if step.held_since is None else format_timestamp(step.held_since),
        }
        for step in record.steps
    ]
    return {
        **spec_to_dict(spec),
        "defined_at": format_timestamp(record.defined_at),
        "defined_by": record.defined_by,
        "level": record.level,
        "tier": record.tier,
        "tokens": spec.text(record.tokens(now)),
        "as_of": format_timestamp(now),
        "next_step_down": None if due is None else format_timestamp(due),
        "records": record.records,
        "consumed": micro_text(record.consumed),
        "overdraws": record.overdraws,
        "history": history,
    }
