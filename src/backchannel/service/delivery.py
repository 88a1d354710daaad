"""The delivery service: the broker's queues driven by the track log (DESIGN.md, "Delivery").

:class:`DeliveryService` keeps one :class:`~backchannel.broker.RecipientQueue`
per (track, recipient party) and one :class:`~backchannel.broker.Presence` per
track. It is the one entry point for commands that affect delivery:

- **Backpressure.** Before a ``submit_message`` (for the mediator's queue) or a
  ``forward_message`` / ``reframe_message`` (for each recipient's queue) is
  executed, every target queue's capacity is checked; a full one raises
  :class:`~backchannel.errors.WouldBlock` and nothing is appended.
- **Queueing.** After a successful execute the new message's envelope goes to
  the mediator's queue (a submission) or to each recipient's queue (a forward
  or reframe). A forward or reframe takes the original out of the mediator's
  queue: the mediator has acted on it. A ``receipt.recorded`` settles.
- **Time.** :meth:`DeliveryService.tick` applies lease expiries and deadlines;
  a dead letter or an escalation becomes a log event (``message.dead_lettered``,
  ``message.escalated``) signed by the service member ``<mediator>/service``
  with an idempotency key derived from the message, the party and the kind or
  level, so a re-tick never logs twice. One escalation names every member it
  alerts (:func:`escalation_targets`: by default the recipient party's
  alternates and the mediator's principals).
- **Restart.** Queues are rebuilt lazily from the track state: every delivery
  still pending (``TrackState.pending_for``) is queued again, so a message leased
  but not settled before a restart is delivered again; settled ones are not.

Leases, attempt counts and heartbeats are runtime state, not persisted (ADR-0011).
This module does not speak HTTP or run a timer (call :meth:`~DeliveryService.tick`
at :meth:`~DeliveryService.next_wakeup`); ``/metrics`` reads it (ADR-0029).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard, overload

from backchannel.broker import (
    DeadLettered,
    Delivery,
    DeliveryPolicy,
    Envelope,
    Escalated,
    Outcome,
    PartyPresence,
    Presence,
    QueueStatistics,
    RecipientQueue,
)
from backchannel.clock import Clock
from backchannel.domain import (
    Command,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    ReceiptRecorded,
    TrackState,
)
from backchannel.domain.errors import IdempotencyConflictError, TrackStateError
from backchannel.domain.records import MessageRecord
from backchannel.errors import (
    BackchannelError,
    DomainError,
    EncodingError,
    NotFoundError,
    UnknownDeliveryError,
    VerificationError,
    WouldBlock,
)
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, sign_command, to_domain
from backchannel.service._routing import envelope, escalation_targets, targets
from backchannel.service.leases import LeaseBook
from backchannel.service.tracks import CommandResult, TrackService

__all__ = ["DeliveryService", "DeliveryStatistics", "escalation_targets"]

_log = logging.getLogger(__name__)

_REASON_MAX = 500

_Added = Counter[tuple[str, str]]
"""Messages admitted so far in a batch, per (track, party) queue."""


@dataclass(frozen=True, slots=True)
class DeliveryStatistics:
    """A snapshot of every queue a :class:`DeliveryService` holds (trio ``statistics()`` style).

    The counters are sums over the queues built so far (each track's parties);
    :meth:`DeliveryService.statistics` with a track gives each party's own.

    Attributes:
        tracks: Tracks whose queues are built.
        queues: Queues built (one per track and party).
        queued: Messages held (ready and in flight).
        in_flight: Messages leased and not yet settled.
        leases_held: Leases kept for resending to a reconnecting stream.
        settled_total: Messages settled so far.
        redeliveries_total: Leases that expired unsettled and were queued again.
        dead_lettered_total: Messages dead-lettered so far.
        escalated_total: Escalations raised so far.
    """

    tracks: int
    queues: int
    queued: int
    in_flight: int
    leases_held: int
    settled_total: int
    redeliveries_total: int
    dead_lettered_total: int
    escalated_total: int


class DeliveryService:
    """Queues, leases, settlements, dead letters and escalations over a :class:`TrackService`.

    All queue state sits behind one lock, held across the capacity check, the
    execute and the enqueue of a submission (so a queue never overshoots its
    limit) and across a tick and the commands it logs.

    Args:
        tracks: The track service that executes commands and holds track state.
        node: The service's own keys; dead letters and escalations are signed with
            them as the member ``<mediator>/service``.
        policy: How every queue delivers.
        clock: The clock ``now`` defaults to.
    """

    def __init__(self, tracks: TrackService, node: KeyPair, policy: DeliveryPolicy, *, clock: Clock) -> None:
        """Create the service; queues are built on first use of each track."""
        self._tracks = tracks
        self._node = node
        self._policy = policy
        self._clock = clock
        self._lock = threading.RLock()
        self._queues: dict[tuple[str, str], RecipientQueue] = {}
        self._presence: dict[str, Presence] = {}
        self._leases = LeaseBook()
        self.on_settled: Callable[[str, float], None] | None = None
        """Called with a priority and the seconds from delivery to settling receipt (ADR-0029)."""

    # -- commands --------------------------------------------------------------------------------

    def submit(self, signed: SignedCommand) -> CommandResult:
        """Execute a command, with backpressure before and queueing after.

        Args:
            signed: The member's signed command (any command; only messages,
                forwards, reframes and receipts touch the queues).

        Returns:
            What :meth:`TrackService.execute` returned.

        Raises:
            WouldBlock: a target queue is full; nothing was appended. Retry after
                ``retry_after`` seconds.
            EncodingError: the command's body does not decode.
            VerificationError: the signature does not verify.
            DomainError: the command breaks a rule.
            ConflictError: other writers won the race too many times.
        """
        outcome = self.submit_many([signed])[0]
        if isinstance(outcome, BackchannelError):
            raise outcome
        return outcome

    def submit_many(self, commands: Sequence[SignedCommand]) -> list[CommandResult | BackchannelError]:
        """Execute many commands with one append per track (group commit), each with backpressure.

        Each command is checked against its target queues counting the commands
        admitted before it in the same call, so a batch never overshoots a queue's
        limit; a command that would gets :class:`~backchannel.errors.WouldBlock` in
        its slot. The rest run through :meth:`TrackService.execute_many`.

        Returns:
            One outcome per command, in order: its result or the error that refused it.

        Raises:
            ConflictError: other writers won the race too many times.
            OperationalError: the store failed; nothing was appended.
        """
        admitted: list[tuple[SignedCommand, Command] | BackchannelError] = []
        with self._lock:
            states: dict[str, TrackState | None] = {}
            added: _Added = Counter()
            for signed in commands:
                try:
                    command = to_domain(signed)
                    if signed.track not in states:
                        states[signed.track] = self._tracks.state(signed.track)
                    self._admit(states[signed.track], signed, command, added)
                except (DomainError, EncodingError, VerificationError, WouldBlock) as e:
                    admitted.append(e)
                else:
                    admitted.append((signed, command))
            outcomes = self._tracks.execute_decoded(admitted)
            changed = {c.track for c, o in zip(commands, outcomes, strict=True) if _appended(o)}
            after = {track: self._state(track) for track in changed}
            for signed, outcome in zip(commands, outcomes, strict=True):
                if _appended(outcome):
                    self._apply(after[signed.track], outcome)
        return outcomes

    def _admit(
        self,
        state: TrackState | None,
        signed: SignedCommand,
        command: Command,
        added: Counter[tuple[str, str]],
    ) -> None:
        """Check the queues ``command`` would add to, counting ``added``; count it in if it fits."""
        if state is None or _is_retry(state, signed):
            return
        self._ensure(state)
        parties = targets(state, command)
        for party in parties:
            self._check_capacity(state, party, added[(state.track, party)])
        for party in parties:
            added[(state.track, party)] += 1

    def _check_capacity(self, state: TrackState, party: str, extra: int) -> None:
        queue = self._queues.get((state.track, party))
        if queue is None:
            return  # not a party of the track: execute() refuses the command
        queued = queue.statistics().queued + extra
        limit = self._policy.queue_limit
        if queued >= limit:
            retry_after = self._policy.visibility_timeout.total_seconds()
            raise WouldBlock(
                f"the queue of {party!r} on {state.track!r} is full ({queued} of {limit}); "
                f"retry after {retry_after:g} s",
                retry_after=retry_after,
                queued=queued,
                limit=limit,
            )

    def _apply(self, state: TrackState, result: CommandResult) -> None:
        self._ensure(state)
        now = self._clock.now()
        assert result.first_index is not None
        for offset, event in enumerate(result.events):
            index = result.first_index + offset
            match event:
                case MessageSubmitted():
                    self._put(state, state.message(event.message_id), state.mediator, index, now)
                case MessageForwarded():
                    self._acted_on(state, event.message_id, now)
                    for party in event.to_parties:
                        self._put(state, state.message(event.message_id), party, index, now)
                case MessageReframed():
                    self._acted_on(state, event.reframes, now)
                    for party in event.to_parties:
                        self._put(state, state.message(event.message_id), party, index, now)
                case ReceiptRecorded():
                    queue = self._queue(state, event.party)
                    for message_id in event.message_ids:
                        if _settle(queue, message_id, now):
                            self._settled(state, message_id, event.party, now)
                case _:
                    pass

    def _settled(self, state: TrackState, message_id: str, party: str, now: datetime) -> None:
        message = state.message(message_id)
        if self.on_settled is not None and (delivery := message.deliveries.get(party)) is not None:
            self.on_settled(message.priority.value, max(0.0, (now - delivery.at).total_seconds()))

    def _put(self, state: TrackState, message: MessageRecord, party: str, index: int, now: datetime) -> None:
        # Capacity was checked under the same lock; a seen id is a no-op.
        self._queue(state, party).put_nowait(envelope(state.track, message, party, index), now)

    def _acted_on(self, state: TrackState, message_id: str, now: datetime) -> None:
        """The mediator forwarded or reframed a submission: it leaves the mediator's queue."""
        _settle(self._queue(state, state.mediator), message_id, now)

    # -- consumers -------------------------------------------------------------------------------

    def lease(
        self, track: str, member: str, now: datetime | None = None, max_n: int | None = None
    ) -> list[Delivery]:
        """Lease the most urgent ready messages of ``member``'s party, within its credit.

        Expired leases come back only through :meth:`tick`; call it first (or on a
        timer at :meth:`next_wakeup`).

        Args:
            track: The track.
            member: The consuming member (``party/name``); its party's queue is used.
            now: The current time (default: the clock).
            max_n: At most this many (default: as many as the credit allows).

        Returns:
            Deliveries in priority order, then log order.

        Raises:
            NotFoundError: the track is not open here.
            UnknownMemberError: the member is not enrolled.
        """
        with self._lock:
            state = self._state(track)
            party = state.member(member).party
            self._ensure(state)
            at = now or self._clock.now()
            deliveries = self._queue(state, party).lease(at, max_n)
            if deliveries:
                self._leases.hold(state, party, deliveries, at)
            return deliveries

    def resend(self, track: str, member: str, after: int, now: datetime | None = None) -> list[Delivery]:
        """The deliveries leased earlier to ``member``'s party, unsettled and unexpired, above ``after``.

        What a reconnecting stream sends first (``Last-Event-ID: after``), in log order.

        Raises:
            NotFoundError: the track is not open here.
            UnknownMemberError: the member is not enrolled.
        """
        with self._lock:
            state = self._state(track)
            party = state.member(member).party
            return self._leases.held_after(state, party, after, now or self._clock.now())

    def heartbeat(self, track: str, member: str, now: datetime | None = None) -> None:
        """Record that ``member`` is alive (its party is online for the heartbeat window).

        Raises:
            NotFoundError: the track is not open here.
            UnknownMemberError: the member is not enrolled.
        """
        with self._lock:
            state = self._state(track)
            party = state.member(member).party
            self._ensure(state)
            self._presence[track].heartbeat(member, party, now or self._clock.now())

    def presence(self, track: str, now: datetime | None = None) -> tuple[PartyPresence, ...]:
        """A snapshot of every party's liveness, sorted by party.

        Raises:
            NotFoundError: the track is not open here.
        """
        with self._lock:
            self._ensure(self._state(track))
            return self._presence[track].parties(now or self._clock.now())

    # -- time ------------------------------------------------------------------------------------

    def tick(self, track: str, now: datetime | None = None) -> list[Outcome]:
        """Apply lease expiries and deadlines on every queue of the track; log what must be logged.

        Each :class:`~backchannel.broker.DeadLettered` becomes ``message.dead_lettered`` and
        each :class:`~backchannel.broker.Escalated` ``message.escalated``, signed by the service
        member and idempotent. In the mediator's own queue a dead letter is logged too (the
        sender learns the mediator did not relay it, and why); an escalation there is not.

        Args:
            track: The track.
            now: The current time (default: the clock).

        Returns:
            Every outcome, queue by queue in party order, each queue's in the order due.

        Raises:
            NotFoundError: the track is not open here.
            DomainError: the log refused a dead letter or escalation for a reason other
                than it being recorded or settled already.
        """
        with self._lock:
            state = self._state(track)
            self._ensure(state)
            at = now or self._clock.now()
            outcomes: list[Outcome] = []
            for party in sorted(state.parties):
                outcomes.extend(self._queues[(track, party)].tick(at))
            for outcome in outcomes:
                if outcome.envelope.recipient != state.mediator or isinstance(outcome, DeadLettered):
                    self._record(track, outcome)
            return outcomes

    def _record(self, track: str, outcome: Outcome) -> None:
        match outcome:
            case DeadLettered():
                self._record_dead_letter(track, outcome)
            case Escalated():
                self._record_escalation(track, outcome)
            case _:
                pass  # a redelivery is runtime state, not a log event

    def _record_dead_letter(self, track: str, outcome: DeadLettered) -> None:
        envelope = outcome.envelope
        if not self._pending(track, envelope.message_id, envelope.recipient):
            return
        body: dict[str, JSONValue] = {
            "message_id": envelope.message_id,
            "party": envelope.recipient,
            "attempts": outcome.attempts,
            "reason": outcome.reason[:_REASON_MAX],
        }
        key = _idempotency_key("dead-letter", envelope)
        self._execute_own(track, "record_dead_letter", body, key, envelope, level=None)

    def _record_escalation(self, track: str, outcome: Escalated) -> None:
        envelope = outcome.envelope
        state = self._state(track)
        if not self._pending(track, envelope.message_id, envelope.recipient):
            return
        delivery = state.message(envelope.message_id).deliveries[envelope.recipient]
        if delivery.escalation_level >= outcome.level:
            return
        alerted = escalation_targets(state, envelope.recipient, outcome.to)
        if not alerted:
            _log.warning("no member to alert for %s on %s", envelope.message_id, track)
            return
        body: dict[str, JSONValue] = {
            "message_id": envelope.message_id,
            "party": envelope.recipient,
            "level": outcome.level,
            "to": list[JSONValue](alerted),
        }
        key = _idempotency_key(f"escalation-{outcome.level}", envelope)
        self._execute_own(track, "record_escalation", body, key, envelope, level=outcome.level)

    def _execute_own(  # noqa: PLR0913 - the command's parts, by name
        self,
        track: str,
        command: str,
        body: dict[str, JSONValue],
        key: str,
        envelope: Envelope,
        *,
        level: int | None,
    ) -> None:
        state = self._state(track)
        if state.idempotent_result(state.service_member, key) is not None:
            return
        signed = sign_command(
            self._node.signing,
            track=track,
            command=command,
            member=state.service_member,
            body=body,
            issued_at=self._clock.now(),
            nonce=hashlib.sha256(key.encode()).hexdigest()[:32],
            idempotency_key=key,
        )
        try:
            self._tracks.execute(signed)
        except (IdempotencyConflictError, TrackStateError):
            # Another writer recorded it, or a receipt settled it, since we looked.
            if self._still_due(track, envelope, level):
                raise

    def _still_due(self, track: str, envelope: Envelope, level: int | None) -> bool:
        if not self._pending(track, envelope.message_id, envelope.recipient):
            return False
        if level is None:
            return True
        delivery = self._state(track).message(envelope.message_id).deliveries[envelope.recipient]
        return delivery.escalation_level < level

    def _pending(self, track: str, message_id: str, party: str) -> bool:
        state = self._state(track)
        message = state.messages.get(message_id)
        if message is None:
            return False
        if party == state.mediator:
            return any(m.message_id == message_id for m in state.awaiting_relay())
        delivery = message.deliveries.get(party)
        return delivery is not None and delivery.pending

    def next_wakeup(self, track: str, now: datetime | None = None) -> datetime | None:
        """The earliest time :meth:`tick` has work on this track (None: nothing pending).

        Raises:
            NotFoundError: the track is not open here.
        """
        with self._lock:
            state = self._state(track)
            self._ensure(state)
            at = now or self._clock.now()
            times = [t for p in state.parties if (t := self._queues[(track, p)].next_wakeup(at)) is not None]
            return min(times, default=None)

    @overload
    def statistics(self) -> DeliveryStatistics: ...
    @overload
    def statistics(self, track: str) -> dict[str, QueueStatistics]: ...

    def statistics(self, track: str | None = None) -> DeliveryStatistics | dict[str, QueueStatistics]:
        """Without a track: the totals over every queue; with one: each party's counters, sorted by party.

        Raises:
            NotFoundError: the track is not open here.
        """
        if track is None:
            return self._totals()
        with self._lock:
            state = self._state(track)
            self._ensure(state)
            return {p: self._queues[(track, p)].statistics() for p in sorted(state.parties)}

    def queue_statistics(self) -> dict[tuple[str, str], QueueStatistics]:
        """Each queue built so far, by ``(track, party)``: what ``/metrics`` reads (builds none)."""
        with self._lock:
            return {key: queue.statistics() for key, queue in sorted(self._queues.items())}

    def presence_snapshot(self, now: datetime | None = None) -> dict[str, tuple[PartyPresence, ...]]:
        """Every party's liveness on each track whose queues are built (builds none)."""
        at = now or self._clock.now()
        with self._lock:
            return {track: presence.parties(at) for track, presence in sorted(self._presence.items())}

    @property
    def policy(self) -> DeliveryPolicy:
        """How every queue delivers."""
        return self._policy

    def _totals(self) -> DeliveryStatistics:
        with self._lock:
            each = [q.statistics() for q in self._queues.values()]
            return DeliveryStatistics(
                tracks=len({track for track, _ in self._queues}),
                queues=len(each),
                queued=sum(s.queued for s in each),
                in_flight=sum(s.in_flight for s in each),
                leases_held=len(self._leases),
                settled_total=sum(s.settled_total for s in each),
                redeliveries_total=sum(s.redeliveries_total for s in each),
                dead_lettered_total=sum(s.dead_lettered_total for s in each),
                escalated_total=sum(s.escalated_total for s in each),
            )

    # -- queues ----------------------------------------------------------------------------------

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"track {track!r} is not open here")
        return state

    def _ensure(self, state: TrackState) -> None:
        """Build, from the log, the queue of every party not seen yet, and the track's presence."""
        presence = self._presence.get(state.track)
        if presence is None:
            presence = self._presence[state.track] = Presence(self._policy.heartbeat_window)
        for party in state.parties:
            presence.expect(party)
            self._queue(state, party)

    def _queue(self, state: TrackState, party: str) -> RecipientQueue:
        queue = self._queues.get((state.track, party))
        if queue is None:
            queue = RecipientQueue(state.track, party, self._policy)
            self._restore(state, queue)
            self._queues[(state.track, party)] = queue
        return queue

    def _restore(self, state: TrackState, queue: RecipientQueue) -> None:
        party = queue.recipient
        if party == state.mediator:
            for message in state.awaiting_relay():
                index = state.log_index(message.sequence)
                queue.restore(envelope(state.track, message, party, index), enqueued_at=message.at)
            return
        for pending in state.pending_for(party):
            delivery = pending.delivery
            queue.restore(
                envelope(state.track, pending.message, party, delivery.log_index),
                enqueued_at=delivery.at,
                escalated=delivery.escalation_level > 0,
            )


def _appended(outcome: CommandResult | BackchannelError) -> TypeGuard[CommandResult]:
    return isinstance(outcome, CommandResult) and not outcome.replayed


def _is_retry(state: TrackState, signed: SignedCommand) -> bool:
    key = signed.idempotency_key
    return key is not None and state.idempotent_result(signed.member, key) is not None


def _settle(queue: RecipientQueue, message_id: str, now: datetime) -> bool:
    try:  # True the first time only
        return queue.settle(message_id, now)
    except UnknownDeliveryError:  # settled or dead-lettered before a rebuild
        return False


def _idempotency_key(kind: str, envelope: Envelope) -> str:
    digest = hashlib.sha256(f"{envelope.message_id}\n{envelope.recipient}".encode()).hexdigest()
    return f"{kind}:{digest}"
