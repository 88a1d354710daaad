"""CoordinationService without HTTP: facts found once, only across one mediator's tracks, races ignored."""

from datetime import timedelta
from itertools import count
from typing import Any

from backchannel.broker.policy import DeliveryPolicy
from backchannel.demo.deals import example_deal
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.sdk import deal_hash
from backchannel.service.coordination import CoordinationService, delivery_liveness, met_key
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.tracks import CommandResult, TrackService, replay
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import opening
from backchannel.testing.world import seeded_keys as pair

NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
OMAN = pair(5, "oman/principal")
OMAN_NODE = KeyPair("oman/service", NODE.signing, NODE.agreement)  # the same node serves oman's track


class World:
    """qatar's tracks ``ceasefire`` and ``coord``, oman's track ``oslo``, on one memory store."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = MemoryEventStore()
        writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.tracks = TrackService(writer, NODE, clock=self.clock)
        self.coordination = CoordinationService(self.tracks, NODE, clock=self.clock)
        self.nonces = count()
        for track, mediator, node in (("ceasefire", QATAR, NODE), ("oslo", OMAN, OMAN_NODE)):
            for who, command, body in opening(mediator, node, (USA, IRAN)):
                self.run(track, who, command, body)
        for who, command, body in opening(QATAR, NODE, (), agenda=None):
            self.run("coord", who, command, body)

    def run(self, track: str, who: KeyPair, command: str, body: dict[str, Any]) -> CommandResult:
        signed = sign_command(
            who.signing, track=track, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"nonce-{next(self.nonces):08d}",
        )  # fmt: skip
        return self.tracks.execute(signed)

    def commit_deal(self, track: str, mediator: KeyPair, deal_id: str) -> int:
        deal = example_deal(deal_id)
        deadline = format_timestamp(self.clock.now() + timedelta(hours=1))
        self.run(track, mediator, "prepare_deal", {"deal": deal, "deadline": deadline})
        vote = {"deal_id": deal_id, "deal_hash": deal_hash(deal), "vote": "yes"}
        self.run(track, USA, "vote_deal", vote)
        last = self.run(track, IRAN, "vote_deal", vote)
        assert [e.type for e in last.events] == ["deal.voted", "deal.committed"]
        assert last.first_index is not None
        return last.first_index + 1

    def declare(self, dependency_id: str, on_track: str, ref: str) -> None:
        body = {
            "dependency_id": dependency_id,
            "waiter": "talks",
            "on_track": on_track,
            "kind": "deal_committed",
            "ref": ref,
        }
        self.run("coord", QATAR, "declare_dependency", body)


def test_a_fact_is_recorded_once_with_its_index_and_nothing_else() -> None:
    w = World()
    w.declare("d1", "ceasefire", "ceasefire-1")
    assert w.coordination.after_commit(["coord"]) == []
    index = w.commit_deal("ceasefire", QATAR, "ceasefire-1")
    assert w.coordination.after_commit(["ceasefire"]) == ["d1"]
    assert w.coordination.after_commit(["ceasefire"]) == []  # met: never again
    record = w.coordination.status("coord").state.coordination.dependencies["d1"]
    assert record.evidence is not None
    assert (record.evidence.track, record.evidence.log_index, record.evidence.event_type) == (
        "ceasefire",
        index,
        "deal.committed",
    )
    assert replay(w.store, "coord").coordination == w.tracks.state("coord").coordination


def test_another_mediators_track_is_never_read() -> None:
    w = World()
    w.commit_deal("oslo", OMAN, "oslo-1")
    w.declare("d1", "oslo", "oslo-1")
    w.declare("d2", "nowhere", "x")  # no such track here
    assert w.coordination.after_commit(["coord", "oslo"]) == []
    assert [d.status.value for d in w.coordination.status("coord").dependencies] == ["waiting", "waiting"]
    assert list(w.coordination.status("coord").blocked) == ["talks"]


def test_a_dependency_withdrawn_in_a_race_is_left_alone() -> None:
    w = World()
    w.declare("d1", "ceasefire", "ceasefire-1")
    w.commit_deal("ceasefire", QATAR, "ceasefire-1")
    before = w.tracks.state("coord")
    w.run("coord", QATAR, "withdraw_dependency", {"dependency_id": "d1", "reason": "phased"})
    assert before is not None
    dependency = before.coordination.dependencies["d1"]
    assert w.coordination._record(before, dependency, 3) is False
    assert met_key("coord", "d1") != met_key("coord", "d2")


def test_a_booked_person_silent_on_a_track_puts_the_booking_at_risk() -> None:
    w = World()
    delivery = DeliveryService(w.tracks, NODE, DeliveryPolicy(), clock=w.clock)
    service = CoordinationService(w.tracks, NODE, clock=w.clock, liveness=delivery_liveness(delivery))
    w.run(
        "coord",
        QATAR,
        "register_resource",
        {"resource_id": "person:usa/principal", "kind": "person", "capacity": 1},
    )
    w.run("coord", QATAR, "register_resource", {"resource_id": "room:doha", "kind": "room", "capacity": 1})
    start = w.clock.now() + timedelta(hours=1)
    for booking_id, resource in (("usa", "person:usa/principal"), ("room", "room:doha")):
        w.run(
            "coord", QATAR, "book_resource",
            {
                "booking_id": booking_id, "resource": resource, "holder": "talks", "priority": 1, "queue": False,
                "start": format_timestamp(start), "end": format_timestamp(start + timedelta(hours=2)),
            },
        )  # fmt: skip

    def risky() -> dict[str, str]:
        views = service.status("coord").resources
        return {k: r.describe() for v in views for k, r in v.at_risk.items()}

    assert risky() == {}
    delivery.heartbeat("ceasefire", "usa/principal")
    beat = w.clock.now()
    w.clock.advance(timedelta(seconds=91))
    since = (beat + DeliveryPolicy().heartbeat_window).isoformat()
    assert risky() == {"usa": f"usa/principal offline since {since} (silent on ceasefire)"}
    assert CoordinationService(w.tracks, NODE, clock=w.clock).status("coord").resources[0].at_risk == {}
