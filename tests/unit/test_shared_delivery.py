"""Nodes sharing delivery state, in one process with a fake clock (ADR-0059).

Two delivery services over one store, each with its own track service and
queues, share one :class:`MemoryDeliveryState` (two nodes of one database).
The real-HTTP version is ``tests/integration/test_shared_nodes.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backchannel.broker import DeliveryPolicy, Escalated, PresenceStatus
from backchannel.domain import ReceiptItem
from backchannel.errors import ConfigurationError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import receipt_digest
from backchannel.service.deals import DealService
from backchannel.service.delivery import DeliveryService
from backchannel.service.escrow import EscrowService
from backchannel.service.log import LogWriter
from backchannel.service.notifier import LocalNotifier, PollingNotifier
from backchannel.service.obligations import ObligationService
from backchannel.service.replay import ReplayWindow
from backchannel.service.schedule import PeriodicWork
from backchannel.service.tracks import TrackService
from backchannel.service.work import WorkLeases, node_id
from backchannel.store.delivery_state import Claim, MemoryDeliveryState
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import CommandSigner, message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = timedelta(seconds=1)
POLICY = DeliveryPolicy(
    credit=2,
    visibility_timeout=30 * S,
    max_attempts=2,
    ack_deadline={"flash": 60 * S, "priority": timedelta(hours=1), "routine": timedelta(hours=24)},
)


class Nodes:
    """Two nodes over one store and one shared state; ``run`` goes through node ``n``."""

    def __init__(self, *, ttl: timedelta = 10 * S) -> None:
        self.clock = FakeClock(T0)
        self.store = MemoryEventStore()
        self.shared = MemoryDeliveryState()
        writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.works = [WorkLeases(self.shared, f"node-{n}", ttl) for n in range(2)]
        self.tracks = [TrackService(writer, NODE, clock=self.clock) for _ in range(2)]
        self.delivery = [
            DeliveryService(t, NODE, POLICY, clock=self.clock, shared=self.shared, work=w)
            for t, w in zip(self.tracks, self.works, strict=True)
        ]
        self.signer = CommandSigner(self.clock, TRACK)
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
            self.run(0, who, command, body)

    def run(self, n: int, who: KeyPair, command: str, body: dict[str, Any]) -> Any:
        return self.delivery[n].submit(self.signer.sign(who, command, body))

    def send(self, n: int, text: str, priority: str = "routine") -> tuple[str, int]:
        (event,) = self.run(
            n, USA, "submit_message", message_body("statement", {"text": text}, priority=priority)
        ).events
        result = self.run(
            n, QATAR, "forward_message", {"message_id": event.message_id, "to_parties": ["iran"]}
        )
        return event.message_id, result.first_index

    def settle(self, n: int, message_id: str, index: int) -> None:
        items = [(message_id, index)]
        body = {
            "items": [list(i) for i in items],
            "receipt_digest": receipt_digest([ReceiptItem(*items[0])]).hex(),
        }
        self.run(n, IRAN, "record_receipt", body)

    def types(self) -> list[str]:
        return [e.decode().signed.event.type for e in self.store.read(TRACK)]

    def periodic(self, n: int) -> PeriodicWork:
        tracks, clock = self.tracks[n], self.clock
        return PeriodicWork(
            tracks,
            deals=DealService(tracks, NODE, clock=clock),
            delivery=self.delivery[n],
            escrows=EscrowService(tracks, NODE, clock=clock),
            obligations=ObligationService(tracks, NODE, clock=clock),
        )


def ids(deliveries: list[Any]) -> list[str]:
    return [d.envelope.message_id for d in deliveries]


def test_a_message_sent_through_one_node_is_queued_and_settled_on_the_other() -> None:
    nodes = Nodes()
    one, two = nodes.delivery
    sent, index = nodes.send(0, "hello")
    assert two.statistics(TRACK)["iran"].queued == 1  # reconciled with the log node 1 appended
    assert ids(two.lease(TRACK, IRAN.name)) == [sent]
    assert one.lease(TRACK, IRAN.name) == []  # adopted: leased on node 2
    assert one.statistics(TRACK)["iran"].in_flight == 1
    (held,) = one.resend(TRACK, IRAN.name, after=-1)  # a stream reconnecting to node 1 gets node 2's lease
    assert (held.envelope.message_id, held.attempt) == (sent, 1)
    nodes.settle(1, sent, index)
    assert one.statistics(TRACK)["iran"].queued == 0
    assert nodes.shared.leases(TRACK, "iran") == []  # settled: the shared lease is dropped
    nodes.clock.advance(timedelta(minutes=5))
    assert one.lease(TRACK, IRAN.name) == []
    assert two.lease(TRACK, IRAN.name) == []


def test_a_node_not_doing_the_periodic_work_takes_expired_leases_back_itself() -> None:
    nodes = Nodes(ttl=timedelta(minutes=5))
    one, two = nodes.delivery
    sent, _ = nodes.send(0, "hello")
    assert nodes.works[0].acquire(TRACK, nodes.clock.now()) is None  # node 1 does the periodic work
    (first,) = one.lease(TRACK, IRAN.name)
    nodes.clock.advance(31 * S)
    assert nodes.works[1].acquire(TRACK, nodes.clock.now()) == T0 + timedelta(minutes=5)  # node 1's
    nodes.clock.advance(POLICY.backoff.delay(1))
    (again,) = two.lease(TRACK, IRAN.name)  # node 2 does not tick it, yet takes the expired lease back
    assert (again.envelope.message_id, again.attempt) == (sent, 2)
    assert again.visible_at > first.visible_at


def test_of_two_nodes_leasing_one_message_at_once_only_one_gets_it() -> None:
    nodes = Nodes()
    one, two = nodes.delivery
    sent, _ = nodes.send(0, "hello")
    one.statistics(TRACK)
    two.statistics(TRACK)  # both queues hold it, ready
    assert ids(one.lease(TRACK, IRAN.name)) == [sent]
    assert two.lease(TRACK, IRAN.name) == []


def test_a_claim_lost_between_adopting_and_claiming_hands_out_nothing() -> None:
    nodes = Nodes()
    one, two = nodes.delivery
    sent, _ = nodes.send(0, "hello")
    two.statistics(TRACK)
    real = nodes.shared.leases
    raced = [False]

    def leases_then_race(track: str, party: str) -> list[Any]:
        found = real(track, party)
        if not raced[0] and party == "iran":  # node 1 claims right after node 2 looked
            raced[0] = True
            assert ids(one.lease(TRACK, IRAN.name)) == [sent]
        return found

    nodes.shared.leases = leases_then_race  # type: ignore[method-assign]
    assert two.lease(TRACK, IRAN.name) == []  # its claim lost: the winner's lease is adopted
    nodes.shared.leases = real  # type: ignore[method-assign]
    assert two.statistics(TRACK)["iran"].in_flight == 1


def test_the_work_holder_logs_an_escalation_another_nodes_queue_saw_first() -> None:
    nodes = Nodes(ttl=timedelta(hours=1))
    _, two = nodes.delivery
    sent, _ = nodes.send(0, "urgent", priority="flash")
    assert nodes.works[0].acquire(TRACK, nodes.clock.now()) is None  # node 1 holds the work
    nodes.clock.advance(61 * S)
    two.lease(TRACK, IRAN.name)  # node 2's queue escalates locally: not its work to log
    assert "message.escalated" not in nodes.types()
    nodes.works[0].release_all()
    assert nodes.works[1].acquire(TRACK, nodes.clock.now()) is None  # node 2 takes the work over
    outcomes = two.tick(TRACK)
    assert not [o for o in outcomes if isinstance(o, Escalated)]  # its queue escalated already...
    assert nodes.types().count("message.escalated") == 1  # ...and the sweep logs it from the log
    state = nodes.tracks[1].state(TRACK)
    assert state is not None
    assert state.message(sent).deliveries["iran"].escalation_level == 1
    two.tick(TRACK)
    assert nodes.types().count("message.escalated") == 1


def test_the_work_holder_logs_a_dead_letter_another_nodes_queue_gave_up() -> None:
    nodes = Nodes(ttl=timedelta(hours=1))
    one, two = nodes.delivery
    sent, _ = nodes.send(0, "hello")
    assert nodes.works[0].acquire(TRACK, nodes.clock.now()) is None
    for _ in range(POLICY.max_attempts):
        assert ids(two.lease(TRACK, IRAN.name)) == [sent]
        nodes.clock.advance(timedelta(minutes=5))
    assert two.lease(TRACK, IRAN.name) == []  # node 2's queue dead-letters it, unlogged
    assert "message.dead_lettered" not in nodes.types()
    nodes.works[0].release_all()
    nodes.works[1].acquire(TRACK, nodes.clock.now())
    two.tick(TRACK)
    assert nodes.types().count("message.dead_lettered") == 1
    assert nodes.shared.leases(TRACK, "iran") == []  # no longer pending: its shared lease is dropped
    assert one.lease(TRACK, IRAN.name) == []


def test_periodic_work_runs_on_the_holder_only_and_moves_when_its_lease_lapses() -> None:
    nodes = Nodes(ttl=10 * S)
    first, second = nodes.periodic(0), nodes.periodic(1)
    now = nodes.clock.now()
    assert first.tick(now).visited == (TRACK,)
    assert nodes.works[0].holds(TRACK, now)
    skipped = second.tick(now)
    assert skipped.visited == (TRACK,)
    assert skipped.wait == pytest.approx(10.0)  # looks again when node 1's lease ends
    assert not nodes.works[1].holds(TRACK, now)
    nodes.clock.advance(10 * S)  # node 1 stopped renewing
    second.tick(nodes.clock.now())
    assert nodes.works[1].holds(TRACK, nodes.clock.now())


def test_a_failing_shared_state_backs_the_periodic_work_off() -> None:
    nodes = Nodes()
    periodic = nodes.periodic(1)

    def broken(*_: object) -> None:
        raise OSError("the disk is gone")

    nodes.shared.acquire_work = broken  # type: ignore[method-assign,assignment]
    result = periodic.tick(nodes.clock.now())
    assert result.changed is False
    assert periodic.statistics().failing == 1


def test_heartbeats_are_shared_coarsely() -> None:
    nodes = Nodes()
    one, two = nodes.delivery
    one.heartbeat(TRACK, USA.name)
    nodes.clock.advance(S)
    one.heartbeat(TRACK, USA.name)  # within a tenth of the window: not written again
    (beat,) = nodes.shared.heartbeats(TRACK)
    assert beat.at == T0
    status = {p.party: p for p in two.presence(TRACK)}
    assert status["usa"].status is PresenceStatus.ONLINE
    assert status["iran"].status is PresenceStatus.NEVER_SEEN
    nodes.clock.advance(POLICY.heartbeat_window / 10)
    one.heartbeat(TRACK, USA.name)
    assert nodes.shared.heartbeats(TRACK)[0].at == nodes.clock.now()
    assert set(two.presence_snapshot()) == {TRACK}


def test_a_nonce_accepted_by_one_node_is_refused_by_the_other() -> None:
    shared = MemoryDeliveryState()
    windows = [ReplayWindow(timedelta(minutes=5), ledger=shared) for _ in range(2)]
    windows[0].check_and_add(TRACK, "k1", "n1", T0, T0)
    with pytest.raises(VerificationError, match="another node"):
        windows[1].check_and_add(TRACK, "k1", "n1", T0, T0)
    assert windows[1].statistics().replays_refused == 1
    windows[1].check_and_add(TRACK, "k1", "n2", T0, T0)


def test_work_leases_renew_only_when_half_spent() -> None:
    shared = MemoryDeliveryState()
    writes = []
    real = shared.acquire_work

    def counted(*args: Any) -> Any:
        writes.append(args)
        return real(*args)

    shared.acquire_work = counted  # type: ignore[method-assign]
    work = WorkLeases(shared, node_id(), 10 * S)
    assert work.acquire(TRACK, T0) is None
    assert work.acquire(TRACK, T0 + 4 * S) is None
    assert len(writes) == 1  # held, not half spent: no write
    assert work.acquire(TRACK, T0 + 6 * S) is None
    assert len(writes) == 2
    other = WorkLeases(shared, node_id(), 10 * S)
    assert other.acquire(TRACK, T0 + 7 * S) == T0 + 16 * S
    assert other.acquire(TRACK, T0 + 8 * S) == T0 + 16 * S  # known: no write
    assert len(writes) == 3
    with pytest.raises(ConfigurationError):
        WorkLeases(shared, "x", timedelta(0))


def test_a_polling_notifier_reports_the_tracks_whose_version_moved(caplog: pytest.LogCaptureFixture) -> None:
    versions = {"a": 1, "b": 1}
    notifier = PollingNotifier(lambda: dict(versions), interval=0.01)
    heard: list[frozenset[str]] = []
    notifier.subscribe(heard.append)
    assert notifier.poll() == frozenset()  # the first read only learns
    versions["b"] = 2
    versions["c"] = 1
    assert notifier.poll() == {"b", "c"}
    assert heard == [frozenset({"b", "c"})]

    def failing(_: frozenset[str]) -> None:
        raise RuntimeError("boom")

    notifier.subscribe(failing)
    versions["a"] = 5
    with caplog.at_level(logging.ERROR):
        notifier.poll()
    assert heard[-1] == frozenset({"a"})  # the others still hear
    assert "listener failed" in caplog.text
    with pytest.raises(ConfigurationError):
        PollingNotifier(dict, interval=0)


def test_a_polling_notifier_thread_wakes_listeners_and_stops() -> None:
    versions = {"a": 1}
    calls = [0]

    def read() -> dict[str, int]:
        calls[0] += 1
        if calls[0] == 3:
            raise OSError("a failed read is retried")
        return dict(versions)

    notifier = PollingNotifier(read, interval=0.01)
    heard: list[frozenset[str]] = []
    notifier.subscribe(heard.append)
    notifier.start()
    notifier.start()  # once
    try:
        deadline = datetime.now(UTC) + 5 * S
        while calls[0] < 5 and datetime.now(UTC) < deadline:
            pass
        versions["a"] = 2
        while not heard and datetime.now(UTC) < deadline:
            pass
    finally:
        notifier.stop()
        notifier.stop()
    assert heard == [frozenset({"a"})]


def test_a_local_notifier_announces_only_real_changes() -> None:
    notifier = LocalNotifier()
    heard: list[frozenset[str]] = []
    notifier.subscribe(heard.append)
    notifier.start()
    notifier.announce([])
    notifier.announce(["t"])
    notifier.stop()
    assert heard == [frozenset({"t"})]


def test_a_reconnecting_stream_gets_the_shared_leases_pending_and_unexpired() -> None:
    nodes = Nodes()
    one, two = nodes.delivery
    (event,) = nodes.run(0, USA, "submit_message", message_body("statement", {"text": "relay me"})).events
    (relay,) = one.lease(TRACK, QATAR.name)  # the mediator's own queue
    (held,) = two.resend(TRACK, QATAR.name, after=-1)
    assert (held.envelope.message_id, held.visible_at) == (event.message_id, relay.visible_at)
    assert two.resend(TRACK, QATAR.name, after=held.envelope.log_index) == []
    nodes.shared.claim(TRACK, "qatar", [Claim("not-a-message", 0, relay.visible_at)], now=nodes.clock.now())
    assert len(two.resend(TRACK, QATAR.name, after=-1)) == 1  # an unknown id is ignored
    nodes.clock.advance(31 * S)
    assert two.resend(TRACK, QATAR.name, after=-1) == []  # expired


def test_an_idle_lease_reads_no_shared_state() -> None:
    nodes = Nodes()
    one, _ = nodes.delivery
    reads = []
    real = nodes.shared.leases

    def counted(track: str, party: str) -> list[Any]:
        reads.append(party)
        return real(track, party)

    nodes.shared.leases = counted  # type: ignore[method-assign]
    assert one.lease(TRACK, IRAN.name) == []
    assert reads == []


def test_a_receipt_stands_when_dropping_its_shared_lease_fails(caplog: pytest.LogCaptureFixture) -> None:
    nodes = Nodes()
    one, _ = nodes.delivery
    sent, index = nodes.send(0, "hello")
    one.lease(TRACK, IRAN.name)

    def broken(*_: object) -> None:
        raise OSError("the disk is gone")

    real = nodes.shared.forget
    nodes.shared.forget = broken  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.WARNING):
        nodes.settle(0, sent, index)  # appended all the same
    assert "receipt.recorded" in nodes.types()
    assert "dropping the shared leases" in caplog.text
    nodes.shared.forget = real  # type: ignore[method-assign]
    assert len(nodes.shared.leases(TRACK, "iran")) == 1
    nodes.works[0].acquire(TRACK, nodes.clock.now())
    one.tick(TRACK)  # the holder's tick drops what the log settled
    assert nodes.shared.leases(TRACK, "iran") == []


def test_a_probe_that_did_not_move_skips_the_versions_read() -> None:
    reads = [0]
    probe = [1]
    versions = {"a": 1}

    def read() -> dict[str, int]:
        reads[0] += 1
        return dict(versions)

    notifier = PollingNotifier(read, interval=0.01, probe=lambda: probe[0])
    notifier.poll()
    notifier.poll()
    assert reads[0] == 1  # the probe did not move
    versions["a"] = 2
    probe[0] = 2
    assert notifier.poll() == {"a"}
    assert reads[0] == 2


def test_leases_refused_for_the_credit_spent_on_another_node_cost_no_attempt() -> None:
    nodes = Nodes()  # credit 2
    _, two = nodes.delivery
    m0, m1, m3 = (nodes.send(0, f"m{n}")[0] for n in (0, 1, 3))
    m2, _ = nodes.send(0, "urgent", priority="flash")
    two.statistics(TRACK)  # node 2's queue holds all four, ready
    real = nodes.shared.leases
    raced = [False]
    until = nodes.clock.now() + 30 * S

    def leases_then_race(track: str, party: str) -> list[Any]:
        found = real(track, party)
        if not raced[0] and party == "iran":  # another node spends the credit right after node 2 looked
            raced[0] = True
            nodes.shared.claim(
                TRACK, "iran", [Claim(m1, 0, until), Claim(m3, 0, until)], now=nodes.clock.now()
            )
        return found

    nodes.shared.leases = leases_then_race  # type: ignore[method-assign]
    assert two.lease(TRACK, IRAN.name) == []  # m2 and m0 leased here, both refused for the credit
    nodes.shared.leases = real  # type: ignore[method-assign]
    stats = two.statistics(TRACK)["iran"]
    assert (stats.in_flight, stats.ready) == (2, 2)  # the other node's two adopted; m2 and m0 ready again
    assert two.lease(TRACK, IRAN.name) == []  # still no credit
    nodes.clock.advance(31 * S)
    nodes.works[1].acquire(TRACK, nodes.clock.now())
    two.tick(TRACK)
    again = {d.envelope.message_id: d.attempt for d in two.lease(TRACK, IRAN.name)}
    assert again == {m2: 1, m0: 1}  # the refused leases cost no attempt


def test_a_relayed_submission_frees_the_mediators_credit_at_once() -> None:
    nodes = Nodes()  # credit 2
    one, _ = nodes.delivery
    for n in range(4):
        nodes.run(0, USA, "submit_message", message_body("statement", {"text": f"s{n}"}))
    first = one.lease(TRACK, QATAR.name)
    assert len(first) == 2
    for delivery in first:
        nodes.run(
            0, QATAR, "forward_message", {"message_id": delivery.envelope.message_id, "to_parties": ["iran"]}
        )
    assert {r.message_id for r in nodes.shared.leases(TRACK, "qatar")} == set()  # relayed: dropped
    assert len(one.lease(TRACK, QATAR.name)) == 2  # not held back until the relayed leases expire
