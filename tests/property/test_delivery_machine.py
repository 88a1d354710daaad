"""A stateful property test of ``RecipientQueue`` against a straightforward reference model.

The model keeps every message in a dict and recomputes everything by sorting and
scanning: no heaps, no lazy deletion. Hypothesis drives both with the same puts,
leases, settlements, clock advances and ticks, and the machine checks that they
agree exactly and that the delivery guarantees hold at every step:

- nothing settled (or dead-lettered) is ever delivered again;
- every message put is exactly one of queued/in flight, settled, dead-lettered,
  and none is lost: draining the queue ends with every message settled or dead-lettered;
- a lease takes ready messages in priority order, then log order;
- messages in flight never exceed the credit;
- re-putting and re-settling change nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from backchannel.broker import (
    Backoff,
    DeadLettered,
    Delivery,
    DeliveryPolicy,
    Envelope,
    Escalated,
    MessageState,
    Outcome,
    Priority,
    QueueStatistics,
    RecipientQueue,
    Redelivered,
    UnknownDeliveryError,
    WouldBlock,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RANK = {Priority.FLASH: 0, Priority.PRIORITY: 1, Priority.ROUTINE: 2}  # flash > priority > routine


def order(envelope: Envelope) -> tuple[int, int, str]:
    """The delivery order, written out independently of ``Envelope.sort_key``."""
    return (RANK[envelope.priority], envelope.log_index, envelope.message_id)


def seconds(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda n: timedelta(seconds=n))


@st.composite
def policies(draw: st.DrawFn) -> DeliveryPolicy:
    base = draw(seconds(0, 10))
    return DeliveryPolicy(
        credit=draw(st.integers(1, 4)),
        queue_limit=draw(st.integers(1, 10)),
        visibility_timeout=draw(seconds(1, 10)),
        max_attempts=draw(st.integers(1, 3)),
        backoff=Backoff(base, draw(st.sampled_from([1.0, 1.5, 2.0])), base + draw(seconds(0, 20))),
        ack_deadline={p: draw(seconds(1, 120)) for p in Priority},
        escalate=frozenset({Priority.FLASH}) | draw(st.frozensets(st.sampled_from(Priority))),
    )


# --------------------------------------------------------------------------------------------------
# The reference model
# --------------------------------------------------------------------------------------------------


@dataclass
class Message:
    envelope: Envelope
    deadline: datetime
    ready_at: datetime
    state: MessageState = MessageState.QUEUED
    attempts: int = 0
    visible_at: datetime | None = None
    escalated: bool = False

    @property
    def live(self) -> bool:
        return self.state in {MessageState.QUEUED, MessageState.IN_FLIGHT}


class Model:
    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy
        self.messages: dict[str, Message] = {}
        self.totals = {"settled": 0, "redeliveries": 0, "dead_lettered": 0, "escalated": 0}
        self.peak = 0

    def live(self) -> list[Message]:
        return [m for m in self.messages.values() if m.live]

    def in_flight(self) -> int:
        return sum(m.state is MessageState.IN_FLIGHT for m in self.messages.values())

    def ready(self, now: datetime) -> list[Message]:
        ready = [m for m in self.messages.values() if m.state is MessageState.QUEUED and m.ready_at <= now]
        return sorted(ready, key=lambda m: order(m.envelope))

    def put(self, envelope: Envelope, now: datetime) -> bool:
        if envelope.message_id in self.messages:
            return False
        if len(self.live()) >= self.policy.queue_limit:
            raise WouldBlock("model", retry_after=0, queued=0, limit=0)
        deadline = now + self.policy.ack_deadline[envelope.priority]
        self.messages[envelope.message_id] = Message(envelope, deadline, ready_at=now)
        self.peak = max(self.peak, len(self.live()))
        return True

    def room(self, max_n: int | None) -> int:
        room = self.policy.credit - self.in_flight()
        return room if max_n is None else min(room, max_n)

    def lease(self, now: datetime, max_n: int | None) -> list[Delivery]:
        deliveries = []
        for m in self.ready(now)[: self.room(max_n)]:
            m.state, m.attempts = MessageState.IN_FLIGHT, m.attempts + 1
            m.visible_at = now + self.policy.visibility_timeout
            deliveries.append(Delivery(m.envelope, m.attempts, now, m.visible_at))
        return deliveries

    def settle(self, message_id: str) -> bool:
        if message_id not in self.messages:
            raise UnknownDeliveryError(message_id)
        m = self.messages[message_id]
        if not m.live:
            return False
        m.state = MessageState.SETTLED
        self.totals["settled"] += 1
        return True

    def due(self, now: datetime) -> list[tuple[datetime, int, tuple[int, int, str], Message]]:
        events = []
        for m in self.live():
            if self.policy.escalates(m.envelope.priority) and not m.escalated and m.deadline <= now:
                events.append((m.deadline, 0, order(m.envelope), m))
            if m.state is MessageState.IN_FLIGHT and m.visible_at is not None and m.visible_at <= now:
                events.append((m.visible_at, 1, order(m.envelope), m))
        return sorted(events, key=lambda e: e[:3])

    def tick(self, now: datetime) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for _, kind, _, m in self.due(now):
            if m.live:  # a message dead-lettered earlier in this tick escalates no more
                outcomes.append(self.escalate(m) if kind == 0 else self.expire(m))
        return outcomes

    def escalate(self, m: Message) -> Escalated:
        m.escalated = True
        self.totals["escalated"] += 1
        return Escalated(m.envelope, 1, m.deadline, self.policy.escalate_to)

    def expire(self, m: Message) -> Outcome:
        assert m.visible_at is not None
        if m.attempts >= self.policy.max_attempts:
            m.state = MessageState.DEAD_LETTERED
            self.totals["dead_lettered"] += 1
            timeout = self.policy.visibility_timeout
            reason = f"not acknowledged after {m.attempts} delivery attempt(s), each with a visibility timeout of {timeout}"
            return DeadLettered(m.envelope, m.attempts, reason)
        m.state, m.ready_at = MessageState.QUEUED, m.visible_at + self.policy.redelivery_delay(m.attempts)
        m.visible_at = None
        self.totals["redeliveries"] += 1
        return Redelivered(m.envelope, m.attempts + 1, m.ready_at)

    def next_wakeup(self, now: datetime) -> datetime | None:
        times = []
        for m in self.live():
            if self.policy.escalates(m.envelope.priority) and not m.escalated:
                times.append(m.deadline)
            if m.visible_at is not None:
                times.append(m.visible_at)
            elif m.ready_at > now:
                times.append(m.ready_at)
        return min(times, default=None)

    def statistics(self) -> QueueStatistics:
        live, in_flight = len(self.live()), self.in_flight()
        t = self.totals
        return QueueStatistics(
            live,
            live - in_flight,
            in_flight,
            t["settled"],
            t["redeliveries"],
            t["dead_lettered"],
            t["escalated"],
            self.peak,
        )


# --------------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------------


class DeliveryMachine(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.log_index = itertools.count()
        self.serial = itertools.count()

    @initialize(policy=policies())
    def start(self, policy: DeliveryPolicy) -> None:
        self.queue = RecipientQueue("t", "iran", policy)
        self.model = Model(policy)

    def envelope(self, message_id: str, priority: Priority) -> Envelope:
        return Envelope(message_id, next(self.log_index), "t", "usa", "iran", priority, 10)

    @rule(target=ids, priority=st.sampled_from(Priority))
    def put(self, priority: Priority) -> str:
        envelope = self.envelope(f"m{next(self.serial)}", priority)
        try:
            expected = self.model.put(envelope, self.now)
        except WouldBlock:
            with pytest.raises(WouldBlock) as caught:
                self.queue.put_nowait(envelope, self.now)
            assert caught.value.retry_after > 0
            event("put: WouldBlock")
            return envelope.message_id  # refused: a later settle of it must raise Unknown
        assert self.queue.put_nowait(envelope, self.now) is expected is True
        return envelope.message_id

    @rule(message_id=ids, priority=st.sampled_from(Priority))
    def put_again(self, message_id: str, priority: Priority) -> None:
        before = self.queue.statistics()
        if message_id in self.model.messages:
            assert self.queue.put_nowait(self.envelope(message_id, priority), self.now) is False
            assert self.queue.statistics() == before

    @rule(max_n=st.none() | st.integers(0, 5))
    def lease(self, max_n: int | None) -> None:
        ready = self.model.ready(self.now)
        room = self.model.room(max_n)
        closed = {m for m, msg in self.model.messages.items() if not msg.live}
        deliveries = self.queue.lease(self.now, max_n)
        assert not closed & {d.envelope.message_id for d in deliveries}, "delivered after settlement"
        assert deliveries == self.model.lease(self.now, max_n)
        keys = [order(d.envelope) for d in deliveries]
        assert keys == sorted(keys), "a lease is in priority order, then log order"
        assert keys == [order(m.envelope) for m in ready[: len(keys)]], "the most urgent ready go first"
        assert len(deliveries) == min(room, len(ready))

    @rule(message_id=ids)
    def settle(self, message_id: str) -> None:
        try:
            expected = self.model.settle(message_id)
        except UnknownDeliveryError:
            with pytest.raises(UnknownDeliveryError):
                self.queue.settle(message_id, self.now)
            return
        before = self.queue.statistics()
        assert self.queue.settle(message_id, self.now) is expected
        if not expected:
            assert self.queue.statistics() == before, "a duplicate receipt changes nothing"

    @rule(data=st.data())
    def settle_some_in_flight(self, data: st.DataObject) -> None:
        in_flight = sorted(m for m, msg in self.model.messages.items() if msg.state is MessageState.IN_FLIGHT)
        for message_id in data.draw(st.lists(st.sampled_from(in_flight), unique=True)) if in_flight else []:
            assert self.queue.settle(message_id, self.now) is self.model.settle(message_id) is True

    @rule(
        delta=st.integers(0, 40).map(lambda n: timedelta(seconds=n))
        | st.integers(0, 999).map(lambda ms: timedelta(milliseconds=ms))
    )
    def advance(self, delta: timedelta) -> None:
        self.now += delta

    @rule()
    def advance_to_next_wakeup(self) -> None:
        wakeup = self.queue.next_wakeup(self.now)
        assert wakeup == self.model.next_wakeup(self.now)
        if wakeup is not None and wakeup > self.now:
            self.now = wakeup
        self.tick()

    @rule()
    def tick(self) -> None:
        outcomes = self.queue.tick(self.now)
        assert outcomes == self.model.tick(self.now)
        for outcome in outcomes:
            event(f"tick: {type(outcome).__name__}")

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.queue.statistics() == self.model.statistics()
        for message_id, message in self.model.messages.items():
            assert self.queue.message_state(message_id) is message.state, "exactly one state each"

    @invariant()
    def in_flight_never_exceeds_credit(self) -> None:
        assert self.queue.statistics().in_flight <= self.queue.policy.credit

    def teardown(self) -> None:
        """Nothing is lost: leased and never settled, every message ends dead-lettered."""
        if not hasattr(self, "queue"):  # the run failed before initialising
            return
        closed = {MessageState.SETTLED, MessageState.DEAD_LETTERED}
        finished = {m for m, msg in self.model.messages.items() if msg.state in closed}
        for _ in range(10_000):
            for delivery in self.queue.lease(self.now):
                assert delivery.envelope.message_id not in finished, "delivered after settlement"
            wakeup = self.queue.next_wakeup(self.now)
            if wakeup is None:
                break
            self.now = max(self.now, wakeup)
            self.queue.tick(self.now)
        stats = self.queue.statistics()
        assert stats.queued == 0
        assert stats.settled_total + stats.dead_lettered_total == len(self.model.messages)
        for message_id, message in self.model.messages.items():
            state = self.queue.message_state(message_id)
            assert state in closed
            if message.state in closed:
                assert state is message.state, "a settled or dead-lettered message stays so"


DeliveryMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
TestDeliveryMachine = DeliveryMachine.TestCase
