"""The track service end to end on SQLite: signed commands in, verified log out (ADR-0011)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.domain import MessageSubmitted
from backchannel.domain.errors import KeyRevokedError, NotAuthorizedError, SchemaViolationError
from backchannel.errors import VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, command_body, sign_command
from backchannel.service.export import verify_store
from backchannel.service.log import Draft, LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import message_body, opening
from backchannel.testing.world import new_key_json as new_key

TRACK = "us-iran-nuclear"


def pair(seed: int, name: str) -> KeyPair:
    from backchannel.log.signing import AgreementKey

    return KeyPair(
        name,
        SigningKey.from_seed(bytes([seed]) * 32),
        AgreementKey.from_private_bytes(bytes([seed + 100]) * 32),
    )


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
USA_DELEGATE = pair(5, "usa/delegate")


class World:
    def __init__(self, path: Path) -> None:
        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        self.store = SQLiteEventStore(path)
        self.writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.service = TrackService(self.writer, NODE, clock=self.clock)
        self.counter = 0

    def signed(
        self, who: KeyPair, command: str, body: dict[str, Any], idem: str | None = None
    ) -> SignedCommand:
        self.counter += 1
        return sign_command(
            who.signing,
            track=TRACK,
            command=command,
            member=who.name,
            body=body,
            issued_at=self.clock.now(),
            nonce=f"nonce-{self.counter:08d}",
            idempotency_key=idem,
        )

    def run(self, who: KeyPair, command: str, body: dict[str, Any], idem: str | None = None) -> Any:
        return self.service.execute(self.signed(who, command, body, idem))

    def open(self) -> None:
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=AGENDA):
            self.run(who, command, body)

    def propose(self, who: KeyPair, values: dict[str, Any], idem: str | None = None) -> Any:
        return self.run(
            who, "submit_message", message_body("proposal", {"values": values}, agenda_version=1), idem
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path / "db.sqlite3")
    w.open()
    return w


def test_a_negotiation_opens_and_the_log_verifies_at_both_layers(world: World) -> None:
    state = world.service.state(TRACK)
    assert state is not None
    assert state.service_member == "qatar/service"
    entries = list(world.store.read(TRACK))
    assert [e.decode().signed.event.type for e in entries[:2]] == ["member.key_registered", "track.opened"]
    assert all(e.decode().signed.event.author == "qatar/service" for e in entries)
    assert verify_store(world.store, TRACK).report.size == len(entries)
    assert replay(world.store, TRACK) == state


def test_a_proposal_is_logged_with_its_authors_signature_intact(world: World) -> None:
    result = world.propose(USA, {"enrichment_cap_pct": 3.67, "sanctions_relief": "tier-1"})
    (event,) = result.events
    assert isinstance(event, MessageSubmitted)
    stored = next(world.store.read(TRACK, result.first_index, result.first_index + 1)).decode()
    embedded = SignedCommand.from_dict(stored.signed.event.body["command"])
    embedded.verify(USA.signing.verifying_key)  # the recipient can check the author, not just the service
    assert embedded.digest.hex() == event.message_id


def test_a_malformed_proposal_is_refused_with_field_level_reasons_and_appends_nothing(world: World) -> None:
    size = world.store.size(TRACK)
    with pytest.raises(SchemaViolationError) as info:
        world.propose(USA, {"enrichment_cap_pct": 95, "sanctions_relief": "total", "uranium": 1})
    assert [(v.field, v.rule) for v in info.value.violations] == [
        ("enrichment_cap_pct", "maximum"),
        ("sanctions_relief", "one_of"),
        ("uranium", "unknown_field"),
    ]
    assert world.store.size(TRACK) == size


def test_a_retry_with_the_same_idempotency_key_appends_nothing(world: World) -> None:
    signed = world.signed(USA, "submit_message", {
        "kind": "statement", "body": {"text": "hello"}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": None,
    }, idem="retry-1")  # fmt: skip
    first = world.service.execute(signed)
    size = world.store.size(TRACK)
    again = world.service.execute(signed)
    assert again.replayed
    assert again.events == first.events
    assert world.store.size(TRACK) == size


def test_forged_and_unauthorised_commands_are_refused(world: World) -> None:
    impostor = KeyPair("usa/principal", IRAN.signing, IRAN.agreement)  # iran's key claiming to be usa
    forged = sign_command(
        impostor.signing,
        track=TRACK,
        command="propose_agenda",
        member="usa/principal",
        body={"agenda": AGENDA.to_dict()},
        issued_at=world.clock.now(),
        nonce="nonce-forged-1",
    )
    with pytest.raises(NotAuthorizedError, match="belongs to iran/principal"):
        world.service.execute(forged)
    # usa's key id, but a signature by another key: the signature itself fails
    payload = dict(forged.payload)
    payload["key_id"] = USA.signing.key_id
    bad = SignedCommand.from_dict({"payload": payload, "sig": forged.to_dict()["sig"]})
    with pytest.raises(VerificationError, match="does not verify"):
        world.service.execute(bad)
    with pytest.raises(NotAuthorizedError):
        world.run(USA, "propose_agenda", {"agenda": AGENDA.to_dict()})


def test_a_revoked_key_is_refused_from_the_moment_of_revocation(world: World) -> None:
    world.run(
        USA,
        "enroll_member",
        {"new_member": USA_DELEGATE.name, "role": "delegate", "new_key": new_key(USA_DELEGATE)},
    )
    world.run(
        USA, "revoke_key", {"subject": USA_DELEGATE.name, "revoked_key_id": USA_DELEGATE.signing.key_id}
    )
    with pytest.raises(KeyRevokedError, match=USA_DELEGATE.signing.key_id):
        world.propose(USA_DELEGATE, {"enrichment_cap_pct": 5})


def test_the_service_refuses_a_track_naming_another_service_key(tmp_path: Path) -> None:
    w = World(tmp_path / "other.sqlite3")
    other = pair(7, "qatar/service")
    with pytest.raises(VerificationError, match="this service's key"):
        w.run(
            QATAR,
            "open_track",
            {"title": "Doha", "principal_key": new_key(QATAR), "service_key": new_key(other)},
        )
    assert w.store.list_tracks() == []


def test_a_restarted_service_rebuilds_the_same_state_from_the_log(world: World, tmp_path: Path) -> None:
    world.propose(IRAN, {"enrichment_cap_pct": 20})
    before = world.service.state(TRACK)
    fresh = TrackService(world.writer, NODE, clock=world.clock)
    assert fresh.state(TRACK) == before
    # and a second service instance sees what the first appends
    world.propose(USA, {"enrichment_cap_pct": 3.67})
    assert fresh.state(TRACK) == world.service.state(TRACK)


def test_replay_catches_an_event_its_command_does_not_decide(world: World) -> None:
    result = world.propose(USA, {"enrichment_cap_pct": 3.67})
    stored = next(world.store.read(TRACK, result.first_index, result.first_index + 1)).decode()
    body = dict(stored.signed.event.body)
    event = dict(body["event"])
    event["priority"] = "flash"  # the service claims a priority the author never asked for
    world.writer.append(
        TRACK,
        [
            Draft(
                "message.submitted",
                "qatar/service",
                {"command": body["command"], "event": event},
                NODE.signing,
            )
        ],
    )
    verify_store(world.store, TRACK)  # the log layer is fine: the service signed it
    with pytest.raises(VerificationError) as info:
        replay(world.store, TRACK)
    assert info.value.index == world.store.size(TRACK) - 1


def test_replay_refuses_a_key_registration_after_the_track_opened(world: World) -> None:
    # A registration mid-track would shift every later log index a receipt names.
    state = world.service.state(TRACK)
    assert state is not None
    assert state.log_offset == 1  # the service's key registration, then track.opened
    world.propose(USA, {"enrichment_cap_pct": 3.67})
    body = {"member": NODE.name, "ed25519": NODE.signing.verifying_key.to_text()}
    world.writer.append(TRACK, [Draft(KEY_REGISTERED, NODE.name, body, NODE.signing)])
    verify_store(world.store, TRACK)  # a valid registration for the log layer
    with pytest.raises(VerificationError, match="a key registration after track.opened") as info:
        replay(world.store, TRACK)
    assert info.value.index == world.store.size(TRACK) - 1


def test_command_bodies_round_trip(world: World) -> None:
    state = world.service.state(TRACK)
    assert state is not None
    result = world.propose(USA, {"enrichment_cap_pct": 3.67})
    stored = next(world.store.read(TRACK, result.first_index, result.first_index + 1)).decode()
    signed = SignedCommand.from_dict(stored.signed.event.body["command"])
    from backchannel.protocol.wire import to_domain

    assert command_body(to_domain(signed)) == signed.payload["body"]
