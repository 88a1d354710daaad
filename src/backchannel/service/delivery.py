"""The delivery service: the broker's queues driven by the track log (DESIGN.md, "Delivery").

:class:`DeliveryService` keeps one :class:`~backchannel.broker.RecipientQueue`
per (track, recipient party) and the track's heartbeats
(:class:`~backchannel.service.presence_book.PresenceBook`). It is the one entry
point for commands that affect delivery:

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
  ``message.escalated``) signed by the service member, idempotent
  (:class:`~backchannel.service.delivery_records.ServiceRecords`).
- **Restart.** Queues are rebuilt lazily from the track state: every delivery
  still pending (``TrackState.pending_for``) is queued again; settled ones are not.

**Shared with other nodes** (ADR-0059). Several nodes may serve one database.
What is pending, settled, dead-lettered and escalated is derived from the log:
when the log holds events this node did not apply (another node appended
them), the queues are reconciled with the track state before they are used.
Leases and attempts live in the shared
:class:`~backchannel.store.delivery_state.DeliveryState`: a lease granted here
is claimed there (compare-and-set on the attempts seen), a lease granted
elsewhere is adopted before this node leases, so a message leased through one
node is not handed out by another before its lease expires. Heartbeats are
shared coarsely. The periodic work (:meth:`tick`) runs on the node holding the
track's work lease (:class:`~backchannel.service.work.WorkLeases`); the other
nodes only take back expired leases in their own queues. Without a shared state
(the default), the service keeps it in its own memory: one node.

This module does not speak HTTP or run a timer (call :meth:`~DeliveryService.tick`
at :meth:`~DeliveryService.next_wakeup`); ``/metrics`` reads it (ADR-0029).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeGuard, overload

from backchannel.broker import (
    DeadLettered,
    Delivery,
    DeliveryPolicy,
    Outcome,
    PartyPresence,
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
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, to_domain
from backchannel.service._routing import (
    closed_by,
    envelope,
    escalation_targets,
    reconcile,
    restore,
    targets,
    touched,
)
from backchannel.service.delivery_records import ServiceRecords
from backchannel.service.delivery_stats import DeliveryStatistics, totals
from backchannel.service.leases import held_after
from backchannel.service.presence_book import PresenceBook
from backchannel.service.tracks import CommandResult, TrackService
from backchannel.service.work import WorkLeases
from backchannel.store.delivery_state import Claim, DeliveryState, MemoryDeliveryState

__all__ = ["DeliveryService", "DeliveryStatistics", "escalation_targets"]

_log = logging.getLogger(__name__)

_Added = Counter[tuple[str, str]]
"""Messages admitted so far in a batch, per (track, party) queue."""


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
        shared: The delivery state shared with the other nodes of the database
            (default: one in this service's memory; ADR-0059).
        work: This node's work leases over ``shared`` (default: none; this node
            does all the periodic work).
    """

    def __init__(  # noqa: PLR0913 - the services, then the shared state, keyword-only
        self,
        tracks: TrackService,
        node: KeyPair,
        policy: DeliveryPolicy,
        *,
        clock: Clock,
        shared: DeliveryState | None = None,
        work: WorkLeases | None = None,
    ) -> None:
        """Create the service; queues are built on first use of each track."""
        self._tracks = tracks
        self._policy = policy
        self._clock = clock
        self._lock = threading.RLock()
        self._queues: dict[tuple[str, str], RecipientQueue] = {}
        self._applied: dict[str, int] = {}  # track -> the state version the queues reflect
        self._shared: DeliveryState = shared if shared is not None else MemoryDeliveryState()
        self._work = work
        self._presence = PresenceBook(self._shared, policy.heartbeat_window)
        self._records = ServiceRecords(tracks, node, policy, clock)
        self.on_settled: Callable[[str, float], None] | None = None
        """Called with a priority and the seconds from delivery to settling receipt (ADR-0029)."""

    @property
    def shared(self) -> DeliveryState:
        """The delivery state shared with the other nodes."""
        return self._shared

    @property
    def work(self) -> WorkLeases | None:
        """This node's work leases (``None``: it does all the periodic work)."""
        return self._work

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
            closed: dict[tuple[str, str], list[str]] = {}
            for signed, outcome in zip(commands, outcomes, strict=True):
                if _appended(outcome):
                    self._apply(after[signed.track], outcome)
                    closed_by(after[signed.track], outcome.events, closed)
            for track in changed:
                self._sync(after[track])  # events another node appended in between
            self._forget(closed)
        return outcomes

    def _forget(self, closed: dict[tuple[str, str], list[str]]) -> None:
        """Drop the shared leases of what these appends settled or relayed (one write per queue)."""
        for (track, party), message_ids in sorted(closed.items()):
            try:
                self._shared.forget(track, party, message_ids)
            except Exception:  # noqa: BLE001 - the append stands; the work holder's tick drops them later
                _log.warning("dropping the shared leases settled on %s failed", track, exc_info=True)

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
        self._sync(state)
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
        """Queue what this node's own append did, if the queues were up to date before it."""
        assert result.first_index is not None
        first = result.first_index - state.log_offset  # the state version before these events
        if self._applied.get(state.track) != first:
            return  # the queues are behind (or were built after it): _sync reconciles them
        self._ensure(state)
        now = self._clock.now()
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
                    self._receipt(state, event, now)
                case _:
                    pass
        self._applied[state.track] = first + len(result.events)

    def _receipt(self, state: TrackState, event: ReceiptRecorded, now: datetime) -> None:
        queue = self._queue(state, event.party)
        for message_id in event.message_ids:
            if _settle(queue, message_id, now):
                self._settled(state, message_id, event.party, now)

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

        Leases other nodes granted are adopted first; each lease granted here is
        claimed in the shared state, and one another node claimed first is not
        returned. On the node doing the periodic work, expired leases come back
        only through :meth:`tick` (call it first, or on a timer at
        :meth:`next_wakeup`); on the others, here.

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
            self._sync(state)
            at = now or self._clock.now()
            queue = self._queue(state, party)
            local = self._work is not None and not self._work.holds(track, at)
            if local:
                queue.tick(at)  # expiries only: logging them is the work holder's
            if not queue.statistics().ready:
                return []  # nothing to hand out: no read of the shared leases (an idle stream's wake-up)
            self._adopt(track, party, queue)
            if local:
                queue.tick(at)
            deliveries = queue.lease(at, max_n)
            if not deliveries:
                return deliveries
            claims = [Claim(d.envelope.message_id, d.attempt - 1, d.visible_at) for d in deliveries]
            credit = self._policy.credit
            granted = set(self._shared.claim(track, party, claims, now=at, limit=credit))
            if len(granted) < len(deliveries):
                attempts = self._adopt(track, party, queue)  # the leases another node claimed first win
                for d in deliveries:
                    message_id = d.envelope.message_id
                    if message_id not in granted and attempts.get(message_id, 0) < d.attempt:
                        queue.unlease(message_id)  # refused for the credit: as if never granted
            return [d for d in deliveries if d.envelope.message_id in granted]

    def _adopt(self, track: str, party: str, queue: RecipientQueue) -> dict[str, int]:
        """Adopt the party's shared leases; return each one's attempts."""
        attempts = {}
        for record in self._shared.leases(track, party):
            queue.adopt(record.message_id, record.attempts, record.visible_at)
            attempts[record.message_id] = record.attempts
        return attempts

    def resend(self, track: str, member: str, after: int, now: datetime | None = None) -> list[Delivery]:
        """The deliveries leased earlier to ``member``'s party, unsettled and unexpired, above ``after``.

        What a reconnecting stream sends first (``Last-Event-ID: after``), in log
        order: the shared leases, so a stream may reconnect to another node.

        Raises:
            NotFoundError: the track is not open here.
            UnknownMemberError: the member is not enrolled.
        """
        with self._lock:
            state = self._state(track)
            party = state.member(member).party
            records = self._shared.leases(track, party)
            return held_after(
                state, party, records, after=after, now=now or self._clock.now(), policy=self._policy
            )

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
            self._presence.heartbeat(track, member, party, now or self._clock.now())

    def presence(self, track: str, now: datetime | None = None) -> tuple[PartyPresence, ...]:
        """A snapshot of every party's liveness, sorted by party (with other nodes' heartbeats).

        Raises:
            NotFoundError: the track is not open here.
        """
        with self._lock:
            self._ensure(self._state(track))
            return self._presence.parties(track, now or self._clock.now())

    # -- time ------------------------------------------------------------------------------------

    def tick(self, track: str, now: datetime | None = None) -> list[Outcome]:
        """Apply lease expiries and deadlines on every queue of the track; log what must be logged.

        Each :class:`~backchannel.broker.DeadLettered` becomes ``message.dead_lettered`` and
        each :class:`~backchannel.broker.Escalated` ``message.escalated``, signed by the service
        member and idempotent. In the mediator's own queue a dead letter is logged too (the
        sender learns the mediator did not relay it, and why); an escalation there is not.
        Then what is due but was not logged (seen while another node did this work) is logged,
        and the shared leases of messages no longer pending are dropped.

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
            self._sync(state)
            at = now or self._clock.now()
            outcomes: list[Outcome] = []
            for party in sorted(state.parties):
                queue = self._queues[(track, party)]
                self._adopt(track, party, queue)
                outcomes.extend(queue.tick(at))
            for outcome in outcomes:
                if outcome.envelope.recipient != state.mediator or isinstance(outcome, DeadLettered):
                    self._records.record(track, outcome)
            state = self._state(track)
            self._records.sweep(state, {p: self._queues[(track, p)] for p in state.parties}, at)
            self._forget_closed(self._state(track))
            return outcomes

    def _forget_closed(self, state: TrackState) -> None:
        """Drop the shared leases of messages the log no longer holds pending."""
        relaying = {m.message_id for m in state.awaiting_relay()}
        for party in sorted(state.parties):
            records = self._shared.leases(state.track, party)
            if party == state.mediator:
                pending = relaying
            else:
                pending = {p.message.message_id for p in state.pending_for(party)}
            closed = [r.message_id for r in records if r.message_id not in pending]
            if closed:
                self._shared.forget(state.track, party, closed)

    def next_wakeup(self, track: str, now: datetime | None = None) -> datetime | None:
        """The earliest time :meth:`tick` has work on this track (None: nothing pending).

        Raises:
            NotFoundError: the track is not open here.
        """
        with self._lock:
            state = self._state(track)
            self._sync(state)
            at = now or self._clock.now()
            times = []
            for party in state.parties:
                queue = self._queues[(track, party)]
                self._adopt(track, party, queue)
                if (t := queue.next_wakeup(at)) is not None:
                    times.append(t)
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
            self._sync(state)
            return {p: self._queues[(track, p)].statistics() for p in sorted(state.parties)}

    def queue_statistics(self) -> dict[tuple[str, str], QueueStatistics]:
        """Each queue built so far, by ``(track, party)``: what ``/metrics`` reads (builds none)."""
        with self._lock:
            return {key: queue.statistics() for key, queue in sorted(self._queues.items())}

    def presence_snapshot(self, now: datetime | None = None) -> dict[str, tuple[PartyPresence, ...]]:
        """Every party's liveness on each track whose queues are built (builds none)."""
        at = now or self._clock.now()
        with self._lock:
            return {track: self._presence.parties(track, at) for track in self._presence.tracks()}

    @property
    def policy(self) -> DeliveryPolicy:
        """How every queue delivers."""
        return self._policy

    def _totals(self) -> DeliveryStatistics:
        with self._lock:
            return totals(self._queues)

    # -- queues ----------------------------------------------------------------------------------

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"track {track!r} is not open here")
        return state

    def _sync(self, state: TrackState) -> None:
        """Bring the track's queues up to ``state``: build missing ones, reconcile after foreign events.

        Only the messages the events since the queues' version name are looked
        at (the log's whole pending set, when that many events is more than the
        track has messages), so keeping up with another node costs what it appended.
        """
        applied = self._applied.get(state.track)
        if applied is not None and applied != state.version:
            closed_in: Callable[[RecipientQueue], list[str]]
            if state.version - applied <= len(state.messages):
                ids, was_reframed = touched(state, self._tracks.events(state, applied), applied)
                closed_in = lambda queue: reconcile(state, queue, ids, was_reframed)  # noqa: E731
            else:
                closed_in = lambda queue: self._reconcile(state, queue)  # noqa: E731
            now = self._clock.now()
            for party in sorted(state.parties):
                if (queue := self._queues.get((state.track, party))) is not None:
                    for message_id in closed_in(queue):
                        _settle(queue, message_id, now)
        self._applied[state.track] = state.version
        self._ensure(state)

    def _ensure(self, state: TrackState) -> None:
        """Build, from the log, the queue of every party not seen yet, and the track's presence."""
        self._presence.expect(state.track, list(state.parties))
        for party in state.parties:
            self._queue(state, party)

    def _queue(self, state: TrackState, party: str) -> RecipientQueue:
        queue = self._queues.get((state.track, party))
        if queue is None:
            queue = RecipientQueue(state.track, party, self._policy)
            restore(state, queue)
            self._queues[(state.track, party)] = queue
        return queue

    def _reconcile(self, state: TrackState, queue: RecipientQueue) -> list[str]:
        """Queue what the log holds pending and the queue lacks; return what it holds and the log closed."""
        pending = restore(state, queue)
        return [message_id for message_id in queue.live_ids() if message_id not in pending]


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
