"""One recipient's delivery queue: a pure state machine driven by ``now``.

:class:`RecipientQueue` holds the messages forwarded to one party on one
track until they are settled (by the recipient's receipt) or dead-lettered. It
leases them in priority order, then log order; takes back leases that expire
unsettled and redelivers them after a backoff; dead-letters a message after
``max_attempts`` deliveries; and escalates a message that misses its
acknowledgement deadline, once.

This module does NOT read a clock (every call takes ``now``), sleep, do I/O,
verify receipts or write the log. Leases, attempt counts and backoff are
runtime state, lost on a crash on purpose: a leased-but-unsettled message is
simply queued again (at-least-once). The service persists what :meth:`tick`
reports and settlements, and rebuilds queues from the log with
:meth:`RecipientQueue.restore`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum

from backchannel.broker._time import utc
from backchannel.broker.errors import UnknownDeliveryError, WouldBlock
from backchannel.broker.messages import DeadLettered, Delivery, Envelope, Escalated, Outcome, Redelivered
from backchannel.broker.policy import DeliveryPolicy

__all__ = ["MessageState", "QueueStatistics", "RecipientQueue"]


class MessageState(StrEnum):
    """Where one message stands in its queue. Exactly one holds at any time."""

    QUEUED = "queued"
    """Waiting for a (re)delivery, possibly still in backoff."""
    IN_FLIGHT = "in_flight"
    """Leased to the recipient, not yet settled."""
    SETTLED = "settled"
    """Acknowledged by the recipient's receipt; never delivered again."""
    DEAD_LETTERED = "dead_lettered"
    """Given up on after ``max_attempts`` deliveries; never delivered again."""


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """A snapshot of one queue (trio ``statistics()`` style).

    Attributes:
        queued: Messages held: neither settled nor dead-lettered (ready + in flight).
        ready: Messages awaiting (re)delivery, including those still in backoff.
        in_flight: Messages leased and not yet settled (never more than the credit).
        settled_total: Messages settled so far.
        redeliveries_total: Leases that expired unsettled and were queued again.
        dead_lettered_total: Messages dead-lettered so far.
        escalated_total: Escalations raised so far.
        peak_queued: The most messages ever held at once.
    """

    queued: int
    ready: int
    in_flight: int
    settled_total: int
    redeliveries_total: int
    dead_lettered_total: int
    escalated_total: int
    peak_queued: int


class _Phase(StrEnum):
    READY = "ready"
    DELAYED = "delayed"
    LEASED = "leased"


class _Timer(IntEnum):
    # At equal times an escalation fires before an expiry, so a message that is
    # dead-lettered at its deadline is still escalated first.
    ESCALATE = 0
    EXPIRE = 1


@dataclass(slots=True)
class _Entry:
    envelope: Envelope
    deadline: datetime
    ready_at: datetime
    phase: _Phase = _Phase.READY
    attempts: int = 0
    visible_at: datetime | None = None
    escalated: bool = False


_SortKey = tuple[int, int, str]
_DelayedItem = tuple[datetime, _SortKey]
_TimerItem = tuple[datetime, _Timer, _SortKey]
_EPOCH = datetime.min.replace(tzinfo=UTC)


class RecipientQueue:
    """The queue of one recipient party on one track.

    Time is an input and never runs backwards here: a ``now`` earlier than one
    already seen counts as the latest seen. Call :meth:`tick` before
    :meth:`lease`: expired leases are taken back only by :meth:`tick`, which
    reports what it did. The queue remembers every id it has seen, so that a
    retried put or a duplicate receipt stays a no-op for the queue's lifetime.

    Args:
        track: The track.
        recipient: The recipient party.
        policy: How to deliver (the defaults of :class:`DeliveryPolicy` if omitted).
    """

    def __init__(self, track: str, recipient: str, policy: DeliveryPolicy | None = None) -> None:
        """Create an empty queue."""
        self.track = track
        self.recipient = recipient
        self.policy = policy if policy is not None else DeliveryPolicy()
        self._now = _EPOCH
        self._live: dict[str, _Entry] = {}
        self._closed: dict[str, MessageState] = {}
        self._ready: list[_SortKey] = []
        self._delayed: list[_DelayedItem] = []
        self._timers: list[_TimerItem] = []
        self._in_flight = 0
        self._totals = {"settled": 0, "redeliveries": 0, "dead_lettered": 0, "escalated": 0}
        self._peak = 0

    # -- putting ---------------------------------------------------------------------------------

    def put_nowait(self, envelope: Envelope, now: datetime) -> bool:
        """Queue a message; its acknowledgement deadline starts now.

        Args:
            envelope: The message (its track and recipient must be this queue's).
            now: The current time.

        Returns:
            True if queued; False if the id was seen before (an idempotent no-op).

        Raises:
            WouldBlock: the queue holds ``queue_limit`` messages; retry after ``retry_after``.
            ValueError: the envelope belongs to another queue, or ``now`` is naive.
        """
        now = self._advance(now)
        self._check_route(envelope)
        if self._seen(envelope.message_id):
            return False
        if len(self._live) >= self.policy.queue_limit:
            raise self._would_block()
        self._add(envelope, enqueued_at=now, escalated=False)
        return True

    def restore(self, envelope: Envelope, *, enqueued_at: datetime, escalated: bool = False) -> bool:
        """Re-queue a message the log says is still undelivered, when rebuilding after a restart.

        Unlike :meth:`put_nowait` it ignores ``queue_limit`` (the log already accepted
        the message), keeps the original deadline clock, and does not escalate again a
        message the log records as escalated.

        Args:
            envelope: The message.
            enqueued_at: When it was first queued (the forwarding event's time).
            escalated: Whether the log already records its escalation.

        Returns:
            True if queued; False if the id was seen before.

        Raises:
            ValueError: the envelope belongs to another queue, or ``enqueued_at`` is naive.
        """
        enqueued_at = utc(enqueued_at)
        self._check_route(envelope)
        if self._seen(envelope.message_id):
            return False
        self._add(envelope, enqueued_at=enqueued_at, escalated=escalated)
        return True

    def _check_route(self, envelope: Envelope) -> None:
        if (envelope.track, envelope.recipient) != (self.track, self.recipient):
            raise ValueError(
                f"message {envelope.message_id!r} is for {envelope.recipient!r} on {envelope.track!r}, "
                f"not {self.recipient!r} on {self.track!r}"
            )

    def _seen(self, message_id: str) -> bool:
        return message_id in self._live or message_id in self._closed

    def _would_block(self) -> WouldBlock:
        # Only settlements and dead letters free space, and a consumer turns over its
        # whole credit within one visibility timeout: that is the natural retry period.
        retry_after = self.policy.visibility_timeout.total_seconds()
        return WouldBlock(
            f"the queue of {self.recipient!r} on {self.track!r} is full "
            f"({len(self._live)} of {self.policy.queue_limit}); retry after {retry_after:g} s",
            retry_after=retry_after,
            queued=len(self._live),
            limit=self.policy.queue_limit,
        )

    def _add(self, envelope: Envelope, *, enqueued_at: datetime, escalated: bool) -> None:
        deadline = enqueued_at + self.policy.ack_deadline[envelope.priority]
        entry = _Entry(envelope, deadline=deadline, ready_at=enqueued_at, escalated=escalated)
        self._live[envelope.message_id] = entry
        heapq.heappush(self._ready, envelope.sort_key)
        if self.policy.escalates(envelope.priority) and not escalated:
            heapq.heappush(self._timers, (deadline, _Timer.ESCALATE, envelope.sort_key))
        self._peak = max(self._peak, len(self._live))

    # -- leasing and settling --------------------------------------------------------------------

    def lease(self, now: datetime, max_n: int | None = None) -> list[Delivery]:
        """Lease the most urgent ready messages to the recipient.

        Args:
            now: The current time.
            max_n: At most this many (default: as many as the credit allows).

        Returns:
            Deliveries in priority order, then log order; never more than
            ``credit`` minus the messages in flight. Settled, dead-lettered and
            in-flight messages, and messages still in backoff, are never included.

        Raises:
            ValueError: ``max_n`` is negative, or ``now`` is naive.
        """
        if max_n is not None and max_n < 0:
            raise ValueError(f"max_n must be >= 0, got {max_n}")
        now = self._advance(now)
        self._promote(now)
        room = self.policy.credit - self._in_flight
        if max_n is not None:
            room = min(room, max_n)
        deliveries: list[Delivery] = []
        while len(deliveries) < room and (entry := self._pop_ready()) is not None:
            deliveries.append(self._grant(entry, now))
        return deliveries

    def _pop_ready(self) -> _Entry | None:
        while self._ready:
            entry = self._current(heapq.heappop(self._ready), _Phase.READY)
            if entry is not None:
                return entry
        return None

    def _grant(self, entry: _Entry, now: datetime) -> Delivery:
        entry.phase = _Phase.LEASED
        entry.attempts += 1
        entry.visible_at = now + self.policy.visibility_timeout
        self._in_flight += 1
        heapq.heappush(self._timers, (entry.visible_at, _Timer.EXPIRE, entry.envelope.sort_key))
        return Delivery(entry.envelope, attempt=entry.attempts, leased_at=now, visible_at=entry.visible_at)

    def unlease(self, message_id: str) -> bool:
        """Take back a lease just granted here that could not be recorded (ADR-0059): as if never granted.

        The message is ready again with the attempts it had before the grant, so a
        lease the shared state refused (the party's credit was spent on another
        node) costs the message no attempt.

        Returns:
            True if the message was in flight here and is ready again.
        """
        entry = self._live.get(message_id)
        if entry is None or entry.phase is not _Phase.LEASED:
            return False
        entry.phase = _Phase.READY
        entry.attempts -= 1
        entry.visible_at = None
        self._in_flight -= 1
        heapq.heappush(self._ready, entry.envelope.sort_key)
        return True

    def settle(self, message_id: str, now: datetime) -> bool:
        """Settle a message: the recipient's receipt arrived. It is never delivered again.

        A message may be settled whether it is in flight or queued (a receipt for a
        lease that has since expired, or one lost in a restart, still counts).

        Args:
            message_id: The message.
            now: The current time.

        Returns:
            True the first time; False if it was already settled or dead-lettered
            (a duplicate receipt is a no-op; the earlier outcome stands).

        Raises:
            UnknownDeliveryError: this queue has never seen ``message_id``.
            ValueError: ``now`` is naive.
        """
        self._advance(now)
        entry = self._live.pop(message_id, None)
        if entry is None:
            if message_id in self._closed:
                return False
            raise UnknownDeliveryError(message_id)
        self._close(entry, MessageState.SETTLED)
        self._totals["settled"] += 1
        return True

    def adopt(self, message_id: str, attempts: int, visible_at: datetime) -> bool:
        """Take over a lease granted by another node (ADR-0059): attempt ``attempts``, until ``visible_at``.

        The shared record wins when it is ahead of this queue: more attempts, or
        the same attempt leased here with another expiry (another node won the
        claim of that attempt). Otherwise nothing changes: this queue already
        knows that lease, or has already seen it expire. An adopted lease that
        has expired is taken back by the next :meth:`tick`, as one leased here.

        Args:
            message_id: The message (a settled, dead-lettered or unknown one is ignored).
            attempts: The attempts the shared record counts.
            visible_at: When its latest lease expires.

        Returns:
            True if the entry changed.

        Raises:
            ValueError: ``visible_at`` is naive.
        """
        visible_at = utc(visible_at)
        entry = self._live.get(message_id)
        if entry is None:
            return False
        leased = entry.phase is _Phase.LEASED
        if attempts < entry.attempts or (
            attempts == entry.attempts and (not leased or entry.visible_at == visible_at)
        ):
            return False
        if not leased:
            self._in_flight += 1
        entry.phase = _Phase.LEASED
        entry.attempts = attempts
        entry.visible_at = visible_at
        heapq.heappush(self._timers, (visible_at, _Timer.EXPIRE, entry.envelope.sort_key))
        return True

    def _close(self, entry: _Entry, state: MessageState) -> None:
        if entry.phase is _Phase.LEASED:
            self._in_flight -= 1
        self._closed[entry.envelope.message_id] = state

    # -- time ------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Outcome]:
        """Apply what the passing of time decides, in the order it became due.

        Args:
            now: The current time.

        Returns:
            What happened: :class:`Redelivered` for a lease that expired unsettled,
            :class:`DeadLettered` when that lease was attempt ``max_attempts``,
            :class:`Escalated` (once per message) for a missed deadline.

        Raises:
            ValueError: ``now`` is naive.
        """
        now = self._advance(now)
        outcomes: list[Outcome] = []
        while (due := self._pop_due(now)) is not None:
            timer, entry = due
            outcomes.append(self._escalate(entry) if timer is _Timer.ESCALATE else self._expire(entry))
        return outcomes

    def _pop_due(self, now: datetime) -> tuple[_Timer, _Entry] | None:
        self._drop_stale_timers()
        if not self._timers or self._timers[0][0] > now:
            return None
        _, timer, key = heapq.heappop(self._timers)
        return timer, self._live[key[2]]

    def _escalate(self, entry: _Entry) -> Escalated:
        entry.escalated = True
        self._totals["escalated"] += 1
        return Escalated(entry.envelope, level=1, deadline=entry.deadline, to=self.policy.escalate_to)

    def _expire(self, entry: _Entry) -> Redelivered | DeadLettered:
        assert entry.visible_at is not None
        if entry.attempts >= self.policy.max_attempts:
            del self._live[entry.envelope.message_id]
            self._close(entry, MessageState.DEAD_LETTERED)
            self._totals["dead_lettered"] += 1
            reason = (
                f"not acknowledged after {entry.attempts} delivery attempt(s), "
                f"each with a visibility timeout of {self.policy.visibility_timeout}"
            )
            return DeadLettered(entry.envelope, attempts=entry.attempts, reason=reason)
        self._in_flight -= 1
        entry.phase = _Phase.DELAYED
        entry.ready_at = entry.visible_at + self.policy.redelivery_delay(entry.attempts)
        entry.visible_at = None
        heapq.heappush(self._delayed, (entry.ready_at, entry.envelope.sort_key))
        self._totals["redeliveries"] += 1
        return Redelivered(entry.envelope, attempt=entry.attempts + 1, ready_at=entry.ready_at)

    def next_wakeup(self, now: datetime) -> datetime | None:
        """The earliest time at which something here becomes due.

        That is the earliest lease expiry, escalation deadline or end of a backoff.
        A time at or before ``now`` means :meth:`tick` has work to do now.

        Args:
            now: The current time.

        Returns:
            That time, or None when nothing is pending (only ready messages, or none).

        Raises:
            ValueError: ``now`` is naive.
        """
        self._promote(self._advance(now))
        self._drop_stale_timers()
        times = [items[0][0] for items in (self._timers, self._delayed) if items]
        return min(times, default=None)

    def _advance(self, now: datetime) -> datetime:
        self._now = max(self._now, utc(now))
        return self._now

    def _promote(self, now: datetime) -> None:
        """Move messages whose backoff has ended to the ready heap."""
        while self._delayed and self._delayed[0][0] <= now:
            _, key = heapq.heappop(self._delayed)
            entry = self._current(key, _Phase.DELAYED)
            if entry is not None:
                entry.phase = _Phase.READY
                heapq.heappush(self._ready, key)
        self._drop_stale_delayed()

    def _drop_stale_delayed(self) -> None:
        while self._delayed and self._current(self._delayed[0][1], _Phase.DELAYED) is None:
            heapq.heappop(self._delayed)

    def _drop_stale_timers(self) -> None:
        while self._timers and not self._timer_is_current(self._timers[0]):
            heapq.heappop(self._timers)

    def _timer_is_current(self, item: _TimerItem) -> bool:
        at, timer, key = item
        entry = self._live.get(key[2])
        if entry is None:
            return False
        if timer is _Timer.ESCALATE:
            return not entry.escalated
        return entry.phase is _Phase.LEASED and entry.visible_at == at

    def _current(self, key: _SortKey, phase: _Phase) -> _Entry | None:
        """The live entry for a heap item, if the item is not stale."""
        entry = self._live.get(key[2])
        return entry if entry is not None and entry.phase is phase else None

    # -- introspection ---------------------------------------------------------------------------

    def message_state(self, message_id: str) -> MessageState:
        """Where a message stands.

        Raises:
            UnknownDeliveryError: this queue has never seen ``message_id``.
        """
        entry = self._live.get(message_id)
        if entry is not None:
            return MessageState.IN_FLIGHT if entry.phase is _Phase.LEASED else MessageState.QUEUED
        if message_id in self._closed:
            return self._closed[message_id]
        raise UnknownDeliveryError(message_id)

    def live_ids(self) -> list[str]:
        """The messages held (queued or in flight, neither settled nor dead-lettered), sorted."""
        return sorted(self._live)

    def statistics(self) -> QueueStatistics:
        """Return a snapshot of the queue's counters."""
        return QueueStatistics(
            queued=len(self._live),
            ready=len(self._live) - self._in_flight,
            in_flight=self._in_flight,
            settled_total=self._totals["settled"],
            redeliveries_total=self._totals["redeliveries"],
            dead_lettered_total=self._totals["dead_lettered"],
            escalated_total=self._totals["escalated"],
            peak_queued=self._peak,
        )
