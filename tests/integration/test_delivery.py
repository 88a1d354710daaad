"""The delivery service over the track service on SQLite: queues driven by the log."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.broker import DeadLettered, DeliveryPolicy, Escalated, PresenceStatus, Redelivered
from backchannel.domain import ReceiptItem, event_from_dict, visible_to
from backchannel.domain.errors import SchemaViolationError
from backchannel.errors import WouldBlock
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, receipt_digest, sign_command
from backchannel.service.delivery import DeliveryService, escalation_targets
from backchannel.service.log import LogWriter
from backchannel.service.tracks import CommandResult, TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import message_body, new_key_json, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-talks"


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")

POLICY = DeliveryPolicy(
    credit=2,
    queue_limit=4,
    visibility_timeout=timedelta(seconds=30),
    max_attempts=2,
    ack_deadline={
        "flash": timedelta(seconds=60),
        "priority": timedelta(hours=1),
        "routine": timedelta(hours=24),
    },
)


class World:
    def __init__(self, path: Path, policy: DeliveryPolicy = POLICY) -> None:
        self.clock = FakeClock()
        self.store = SQLiteEventStore(path)
        self.writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.tracks = TrackService(self.writer, NODE, clock=self.clock)
        self.delivery = DeliveryService(self.tracks, NODE, policy, clock=self.clock)
        self.policy = policy
        self.counter = 0
        self.delivered: dict[tuple[str, str], int] = {}  # (message, party) -> the forward's log index

    def restart(self) -> DeliveryService:
        tracks = TrackService(self.writer, NODE, clock=self.clock)
        return DeliveryService(tracks, NODE, self.policy, clock=self.clock)

    def signed(self, who: KeyPair, command: str, body: dict[str, Any]) -> SignedCommand:
        self.counter += 1
        return sign_command(
            who.signing,
            track=TRACK,
            command=command,
            member=who.name,
            body=body,
            issued_at=self.clock.now(),
            nonce=f"nonce-{self.counter:08d}",
        )

    def run(self, who: KeyPair, command: str, body: dict[str, Any]) -> CommandResult:
        return self.delivery.submit(self.signed(who, command, body))

    def open(self) -> None:
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
            self.run(who, command, body)

    def say(self, who: KeyPair, text: str, priority: str = "routine") -> str:
        body = message_body("statement", {"text": text}, priority=priority)
        (event,) = self.run(who, "submit_message", body).events
        return str(event.message_id)  # type: ignore[union-attr]

    def forward(self, message_id: str, *parties: str) -> CommandResult:
        result = self.run(QATAR, "forward_message", {"message_id": message_id, "to_parties": list(parties)})
        assert result.first_index is not None
        self.delivered.update({(message_id, p): result.first_index for p in parties})
        return result

    def send(self, who: KeyPair, text: str, to: str, priority: str = "routine") -> str:
        message_id = self.say(who, text, priority)
        self.forward(message_id, to)
        return message_id

    def receipt(self, who: KeyPair, *message_ids: str) -> CommandResult:
        """Receipt each message at the log index of the forward that delivered it to ``who``'s party."""
        party = who.name.partition("/")[0]
        items = [(m, self.delivered[(m, party)]) for m in message_ids]
        body = {
            "items": [list(i) for i in items],
            "receipt_digest": receipt_digest(ReceiptItem(*i) for i in items).hex(),
        }
        return self.run(who, "record_receipt", body)

    def log_types(self) -> list[str]:
        return [e.decode().signed.event.type for e in self.store.read(TRACK)]


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path / "db.sqlite3")
    w.open()
    return w


def ids(deliveries: list[Any]) -> list[str]:
    return [d.envelope.message_id for d in deliveries]


def test_deliveries_come_in_priority_then_log_order(world: World) -> None:
    routine = world.send(USA, "one", "iran")
    flash = world.send(USA, "two", "iran", priority="flash")
    also_routine = world.send(USA, "three", "iran")
    priority = world.send(USA, "four", "iran", priority="priority")
    got = world.delivery.lease(TRACK, IRAN.name, max_n=10)
    assert ids(got) == [flash, priority]  # credit 2
    world.receipt(IRAN, flash, priority)
    assert ids(world.delivery.lease(TRACK, IRAN.name)) == [routine, also_routine]
    indices = [d.envelope.log_index for d in got]
    assert indices[0] < indices[1]


def test_a_forward_carries_its_log_index_and_leaves_the_mediators_queue(world: World) -> None:
    message_id = world.say(USA, "hello")
    (submitted,) = world.delivery.lease(TRACK, QATAR.name)
    assert submitted.envelope.message_id == message_id
    result = world.forward(message_id, "iran")
    assert world.delivery.statistics(TRACK)["qatar"].queued == 0
    (delivery,) = world.delivery.lease(TRACK, IRAN.name)
    assert delivery.envelope.log_index == result.first_index
    assert delivery.envelope.sender == "usa"
    assert delivery.envelope.priority == "routine"


def test_credit_limits_what_a_consumer_holds(world: World) -> None:
    sent = [world.send(USA, f"m{i}", "iran") for i in range(3)]
    assert ids(world.delivery.lease(TRACK, IRAN.name)) == sent[:2]
    assert world.delivery.lease(TRACK, IRAN.name) == []
    world.receipt(IRAN, sent[0])
    assert ids(world.delivery.lease(TRACK, IRAN.name)) == [sent[2]]
    assert world.delivery.statistics(TRACK)["iran"].in_flight == 2


def test_a_submission_to_a_full_mediator_queue_is_refused_and_nothing_is_appended(world: World) -> None:
    for i in range(POLICY.queue_limit):
        world.say(USA, f"m{i}")
    size = world.store.size(TRACK)
    with pytest.raises(WouldBlock) as info:
        world.say(USA, "one too many")
    assert info.value.retry_after == POLICY.visibility_timeout.total_seconds()
    assert (info.value.queued, info.value.limit) == (4, 4)
    assert world.store.size(TRACK) == size
    assert world.delivery.statistics(TRACK)["qatar"].queued == 4


def test_a_forward_to_a_full_recipient_queue_is_refused_and_nothing_is_appended(world: World) -> None:
    for i in range(POLICY.queue_limit):
        world.send(USA, f"m{i}", "iran")
    waiting = world.say(USA, "waiting")
    size = world.store.size(TRACK)
    with pytest.raises(WouldBlock):
        world.forward(waiting, "iran")
    assert world.store.size(TRACK) == size
    state = world.tracks.state(TRACK)
    assert state is not None
    assert not state.message(waiting).deliveries


def test_an_unsettled_lease_is_redelivered_after_the_visibility_timeout(world: World) -> None:
    sent = world.send(USA, "hello", "iran")
    (first,) = world.delivery.lease(TRACK, IRAN.name)
    assert world.delivery.next_wakeup(TRACK) == first.visible_at
    world.clock.advance(timedelta(seconds=29))
    assert world.delivery.tick(TRACK) == []
    assert world.delivery.lease(TRACK, IRAN.name) == []
    world.clock.advance(timedelta(seconds=1))
    (outcome,) = world.delivery.tick(TRACK)
    assert isinstance(outcome, Redelivered)
    world.clock.advance(POLICY.backoff.delay(1))
    (again,) = world.delivery.lease(TRACK, IRAN.name)
    assert (again.envelope.message_id, again.attempt) == (sent, 2)


def test_a_message_is_dead_lettered_after_max_attempts_and_logged_once(world: World) -> None:
    sent = world.send(USA, "hello", "iran")
    for _ in range(POLICY.max_attempts):
        world.clock.advance(timedelta(minutes=5))
        world.delivery.tick(TRACK)
        assert ids(world.delivery.lease(TRACK, IRAN.name)) == [sent]
    world.clock.advance(timedelta(minutes=5))
    outcomes = world.delivery.tick(TRACK)
    assert [type(o) for o in outcomes] == [DeadLettered]
    assert world.log_types().count("message.dead_lettered") == 1
    state = world.tracks.state(TRACK)
    assert state is not None
    dead = state.message(sent).deliveries["iran"].dead_letter
    assert dead is not None
    assert dead.attempts == POLICY.max_attempts
    world.clock.advance(timedelta(minutes=5))
    assert world.delivery.tick(TRACK) == []
    assert world.log_types().count("message.dead_lettered") == 1
    assert world.delivery.lease(TRACK, IRAN.name) == []
    # a restarted service neither redelivers nor logs it again
    fresh = world.restart()
    assert fresh.lease(TRACK, IRAN.name) == []
    assert fresh.tick(TRACK) == []
    assert world.log_types().count("message.dead_lettered") == 1


def test_a_submission_the_mediator_never_relays_is_dead_lettered_and_its_sender_told(world: World) -> None:
    waiting = world.say(USA, "please relay")
    for _ in range(POLICY.max_attempts):
        world.clock.advance(timedelta(minutes=5))
        world.delivery.tick(TRACK)
        assert ids(world.delivery.lease(TRACK, QATAR.name)) == [waiting]
    world.clock.advance(timedelta(minutes=5))
    outcomes = world.delivery.tick(TRACK)
    assert [type(o) for o in outcomes] == [DeadLettered]
    assert world.log_types().count("message.dead_lettered") == 1
    state = world.tracks.state(TRACK)
    assert state is not None
    unrelayed = state.message(waiting).unrelayed
    assert unrelayed is not None
    assert unrelayed.attempts == POLICY.max_attempts
    dead = next(e for e in world.store.read(TRACK) if e.decode().signed.event.type == "message.dead_lettered")
    event = event_from_dict(dead.decode().signed.event.body["event"])
    assert visible_to(state, USA.name, event)  # the sender is told why
    assert not visible_to(state, IRAN.name, event)
    # neither the running service nor a restarted one offers it to the mediator again
    assert world.delivery.lease(TRACK, QATAR.name) == []
    fresh = world.restart()
    assert fresh.lease(TRACK, QATAR.name) == []
    assert fresh.tick(TRACK) == []
    assert world.log_types().count("message.dead_lettered") == 1
    # the mediator may still relay it, and the recipient gets it
    world.forward(waiting, "iran")
    assert ids(world.delivery.lease(TRACK, IRAN.name)) == [waiting]


def test_a_flash_message_unacknowledged_past_its_deadline_escalates_once(world: World) -> None:
    sent = world.send(USA, "urgent", "iran", priority="flash")
    world.send(USA, "not urgent", "iran")
    world.clock.advance(timedelta(seconds=61))
    outcomes = world.delivery.tick(TRACK)
    (escalated,) = [o for o in outcomes if isinstance(o, Escalated)]
    assert escalated.envelope.message_id == sent
    assert world.log_types().count("message.escalated") == 1
    state = world.tracks.state(TRACK)
    assert state is not None
    delivery = state.message(sent).deliveries["iran"]
    # iran has no delegate: its principal is the alternate; the mediator's principal is alerted with it
    assert (delivery.escalation_level, delivery.escalated_to) == (1, ("iran/principal", "qatar/principal"))
    world.clock.advance(timedelta(seconds=61))
    assert not [o for o in world.delivery.tick(TRACK) if isinstance(o, Escalated)]
    fresh = world.restart()  # the log says it escalated: a rebuilt queue does not escalate again
    world.clock.advance(timedelta(seconds=61))
    assert not [o for o in fresh.tick(TRACK) if isinstance(o, Escalated)]
    assert world.log_types().count("message.escalated") == 1
    assert ids(fresh.lease(TRACK, IRAN.name))[0] == sent  # escalation does not stop delivery


def escalations(world: World) -> list[dict[str, Any]]:
    """The ``message.escalated`` domain events in the log, as JSON."""
    found = []
    for stored in world.store.read(TRACK):
        event = stored.decode().signed.event
        if event.type == "message.escalated":
            assert isinstance(event.body, dict)
            found.append(event.body["event"])
    return found


def test_one_escalation_alerts_every_active_alternate_and_the_mediator(world: World) -> None:
    deputies = [pair(40 + n, f"iran/deputy{n}") for n in range(3)]
    for deputy in deputies:
        world.run(IRAN, "enroll_member", {"new_member": deputy.name, "role": "delegate", "new_key": new_key_json(deputy)})  # fmt: skip
    world.run(IRAN, "revoke_key", {"subject": deputies[1].name, "revoked_key_id": deputies[1].signing.key_id})
    sent = world.send(USA, "urgent", "iran", priority="flash")
    world.clock.advance(timedelta(seconds=61))
    world.delivery.tick(TRACK)
    (event,) = escalations(world)
    # the active alternates (not the revoked one, not the principal) and the mediator, in one event
    assert (event["message_id"], event["party"], event["level"]) == (sent, "iran", 1)
    assert event["to"] == ["iran/deputy0", "iran/deputy2", "qatar/principal"]
    state = world.tracks.state(TRACK)
    assert state is not None
    assert state.message(sent).deliveries["iran"].escalated_to == (
        "iran/deputy0",
        "iran/deputy2",
        "qatar/principal",
    )


def test_escalation_targets_resolve_groups_and_members_of_the_recipient_or_mediator(world: World) -> None:
    deputy = pair(40, "iran/deputy")
    world.run(IRAN, "enroll_member", {"new_member": deputy.name, "role": "delegate", "new_key": new_key_json(deputy)})  # fmt: skip
    state = world.tracks.state(TRACK)
    assert state is not None
    assert escalation_targets(state, "iran", ("alternates", "mediator")) == ("iran/deputy", "qatar/principal")
    assert escalation_targets(state, "iran", ("principal",)) == ("iran/principal",)
    # a member id counts once, and only in the recipient party or the mediator party
    named = ("qatar/principal", "mediator", "iran/deputy", "usa/principal", "iran/nobody")
    assert escalation_targets(state, "iran", named) == ("qatar/principal", "iran/deputy")
    assert escalation_targets(state, "iran", ("usa/principal",)) == ()


def test_an_escalation_that_would_alert_nobody_is_not_logged(tmp_path: Path) -> None:
    policy = DeliveryPolicy(escalate_to=("usa/principal",))  # never eligible for a delivery to iran
    world = World(tmp_path / "db.sqlite3", policy)
    world.open()
    world.send(USA, "urgent", "iran", priority="flash")
    world.clock.advance(timedelta(seconds=61))
    assert [o for o in world.delivery.tick(TRACK) if isinstance(o, Escalated)]
    assert escalations(world) == []


def test_a_receipt_settles_and_nothing_is_delivered_after(world: World) -> None:
    sent = world.send(USA, "hello", "iran")
    (delivery,) = world.delivery.lease(TRACK, IRAN.name)
    world.receipt(IRAN, sent)
    assert world.delivery.statistics(TRACK)["iran"].settled_total == 1
    world.clock.advance(timedelta(hours=2))
    assert world.delivery.tick(TRACK) == []
    assert world.delivery.lease(TRACK, IRAN.name) == []
    assert world.delivery.next_wakeup(TRACK) is None
    assert world.log_types().count("receipt.recorded") == 1
    assert delivery.attempt == 1


def test_a_receipt_names_the_log_index_each_message_was_delivered_at(world: World) -> None:
    first = world.send(USA, "first", "iran")
    second = world.send(USA, "second", "iran")
    leased = {d.envelope.message_id: d.envelope.log_index for d in world.delivery.lease(TRACK, IRAN.name)}
    assert leased == {first: world.delivered[(first, "iran")], second: world.delivered[(second, "iran")]}
    entries = {e.seq: e.decode().signed.event for e in world.store.read(TRACK)}
    assert {entries[i].type for i in leased.values()} == {"message.forwarded"}
    # one receipt naming the second message at the first one's index is refused, nothing appended
    size = world.store.size(TRACK)
    wrong = [(first, leased[first]), (second, leased[first])]
    body = {
        "items": [list(i) for i in wrong],
        "receipt_digest": receipt_digest(ReceiptItem(*i) for i in wrong).hex(),
    }
    with pytest.raises(
        SchemaViolationError, match=r"items\.1\.log_index: message \w+ was delivered to iran at"
    ):
        world.run(IRAN, "record_receipt", body)
    assert world.store.size(TRACK) == size
    # the right one settles both; each delivery knows the receipt entry that settled it
    result = world.receipt(IRAN, first, second)
    state = world.tracks.state(TRACK)
    assert state is not None
    for message_id in (first, second):
        settled = state.message(message_id).deliveries["iran"].settled
        assert settled is not None
        assert settled.log_index == result.first_index
    (receipt_entry,) = world.store.read(TRACK, result.first_index, result.first_index + 1)
    assert receipt_entry.decode().signed.event.type == "receipt.recorded"
    assert replay(world.store, TRACK) == state  # every receipt re-decided against the log's indexes


def test_a_duplicate_receipt_without_an_idempotency_key_is_a_no_op(world: World) -> None:
    sent = world.send(USA, "hello", "iran")
    world.receipt(IRAN, sent)
    size = world.store.size(TRACK)
    world.receipt(IRAN, sent)
    assert world.store.size(TRACK) == size


def test_a_restart_redelivers_leased_but_unsettled_messages_only(world: World) -> None:
    settled = world.send(USA, "settled", "iran")
    leased = world.send(USA, "leased", "iran")
    index = world.delivery.lease(TRACK, IRAN.name)[1].envelope.log_index
    world.receipt(IRAN, settled)
    fresh = world.restart()
    (again,) = fresh.lease(TRACK, IRAN.name)
    assert (again.envelope.message_id, again.envelope.log_index, again.attempt) == (leased, index, 1)
    assert fresh.statistics(TRACK)["iran"].queued == 1


def test_a_restart_keeps_unforwarded_submissions_in_the_mediators_queue(world: World) -> None:
    forwarded = world.send(USA, "forwarded", "iran")
    waiting = world.say(USA, "waiting")
    fresh = world.restart()
    assert ids(fresh.lease(TRACK, QATAR.name)) == [waiting]
    assert forwarded not in ids(fresh.lease(TRACK, QATAR.name))


def test_presence_shows_online_then_silent(world: World) -> None:
    before = {p.party: p.status for p in world.delivery.presence(TRACK)}
    assert before == dict.fromkeys(("iran", "qatar", "usa"), PresenceStatus.NEVER_SEEN)
    world.delivery.heartbeat(TRACK, IRAN.name)
    now = {p.party: p for p in world.delivery.presence(TRACK)}
    assert now["iran"].status is PresenceStatus.ONLINE
    assert now["iran"].members_online == ("iran/principal",)
    world.clock.advance(POLICY.heartbeat_window + timedelta(seconds=1))
    later = {p.party: p for p in world.delivery.presence(TRACK)}
    assert later["iran"].status is PresenceStatus.SILENT
    assert later["iran"].silent_since is not None


def test_two_services_racing_on_one_store_log_each_dead_letter_and_escalation_once(world: World) -> None:
    sent = world.send(USA, "urgent", "iran", priority="flash")
    other = world.restart()  # a second node (or one that crashed before logging) with its own queues
    assert other.statistics(TRACK)["iran"].queued == 1  # built from the log before anything was logged
    services = (world.delivery, other)
    outcomes: dict[int, list[Any]] = {0: [], 1: []}
    for _ in range(POLICY.max_attempts + 1):
        world.clock.advance(timedelta(minutes=5))
        for n, service in enumerate(services):
            outcomes[n] += service.tick(TRACK)
            service.lease(TRACK, IRAN.name)
    # the first to log a dead letter wins; the other learns it from the log (ADR-0059), not by its own tick
    assert {type(o) for seen in outcomes.values() for o in seen} >= {DeadLettered, Escalated}
    assert Escalated in {type(o) for o in outcomes[1]}
    types = world.log_types()
    assert (types.count("message.dead_lettered"), types.count("message.escalated")) == (1, 1)
    state = world.tracks.state(TRACK)
    assert state is not None
    assert state.message(sent).deliveries["iran"].dead_letter is not None
