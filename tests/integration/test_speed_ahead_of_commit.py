"""Issue #13: signatures verified ahead of the committer (ADR-0050) and entries spliced from canonical bytes.

The committer still decides with the key valid at decide time: a signature
verified ahead under a key revoked meanwhile is refused, a forged one is never
remembered, and every entry the service writes has exactly the canonical bytes
its JSON form canonicalises to (what the offline verifier recomputes).
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.domain.errors import KeyRevokedError
from backchannel.errors import VerificationError
from backchannel.log.canonical import canonicalize
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import AgreementKey, SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, sign_command
from backchannel.service.committer import GroupCommitter
from backchannel.service.export import verify_store
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import SMALL_AGENDA, message_body, opening
from backchannel.testing.world import new_key_json as new_key

TRACK = "speed-ahead"


def pair(seed: int, name: str) -> KeyPair:
    return KeyPair(
        name,
        SigningKey.from_seed(bytes([seed]) * 32),
        AgreementKey.from_private_bytes(bytes([seed + 100]) * 32),
    )


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
DELEGATE = pair(5, "usa/delegate")


class World:
    def __init__(self, path: Path) -> None:
        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        self.store = SQLiteEventStore(path)
        writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.service = TrackService(writer, NODE, clock=self.clock)
        self.counter = 0

    def signed(self, who: KeyPair, command: str, body: dict[str, Any]) -> SignedCommand:
        self.counter += 1
        return sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"nonce-{self.counter:08d}",
        )  # fmt: skip

    def message(self, who: KeyPair, text: str) -> SignedCommand:
        return self.signed(who, "submit_message", message_body("statement", {"text": text}))


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path / "db.sqlite3")
    for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=SMALL_AGENDA):
        w.service.execute(w.signed(who, command, body))
    return w


def test_a_signature_verified_ahead_is_not_verified_again_and_the_command_is_appended(world: World) -> None:
    commands = [world.message(USA, f"statement {i}") for i in range(5)]
    world.service.ahead.verify(commands)
    assert world.service.ahead.verified == 5
    assert len(world.service.ahead) == 5
    outcomes = world.service.execute_many(commands)
    assert all(not isinstance(o, Exception) and not o.replayed for o in outcomes)
    assert len(world.service.ahead) == 0  # each remembered verification is used once
    assert verify_store(world.store, TRACK).report.size == world.store.size(TRACK)
    assert replay(world.store, TRACK) == world.service.state(TRACK)


def test_a_forged_signature_is_never_remembered_and_the_committer_refuses_it(world: World) -> None:
    good = world.message(USA, "genuine")
    forged = SignedCommand(good.payload, bytes(64))
    world.service.ahead.verify([forged])
    assert world.service.ahead.verified == 0
    with pytest.raises(VerificationError, match="does not verify"):
        world.service.execute(forged)


def test_a_signature_remembered_under_one_key_does_not_pass_under_another(world: World) -> None:
    command = world.message(USA, "one key")
    world.service.ahead.verify([command])
    assert not world.service.ahead.verified_under(command, IRAN.signing.verifying_key.public_bytes)
    assert not world.service.ahead.verified_under(
        command, USA.signing.verifying_key.public_bytes
    )  # forgotten


def test_a_key_revoked_after_its_signature_was_verified_ahead_is_refused_at_decide_time(world: World) -> None:
    enrol = {"new_member": DELEGATE.name, "role": "delegate", "new_key": new_key(DELEGATE)}
    world.service.execute(world.signed(USA, "enroll_member", enrol))
    early = world.message(DELEGATE, "signed before the revocation")
    world.service.ahead.verify([early])
    assert world.service.ahead.verified == 1
    revoke = {"subject": DELEGATE.name, "revoked_key_id": DELEGATE.signing.key_id}
    world.service.execute(world.signed(USA, "revoke_key", revoke))
    with pytest.raises(KeyRevokedError, match=DELEGATE.signing.key_id):
        world.service.execute(early)


def test_commands_of_an_unknown_track_or_member_are_left_to_the_committer(world: World) -> None:
    stranger = pair(8, "oman/principal")
    world.service.ahead.verify([world.message(stranger, "who am I")])
    other = sign_command(
        USA.signing, track="not-loaded", command="submit_message", member=USA.name,
        body=message_body("statement", {"text": "x"}), issued_at=world.clock.now(), nonce="nonce-other1",
    )  # fmt: skip
    world.service.ahead.verify([other])
    assert world.service.ahead.verified == 0


def test_the_memory_is_bounded_and_drops_the_oldest(world: World) -> None:
    from backchannel.service.verification import AheadOfCommit

    ahead = AheadOfCommit(lambda _: world.service.state(TRACK), world.clock, limit=2)
    commands = [world.message(USA, f"m{i}") for i in range(3)]
    ahead.verify(commands)
    assert len(ahead) == 2
    public = USA.signing.verifying_key.public_bytes
    assert not ahead.verified_under(commands[0], public)
    assert ahead.verified_under(commands[2], public)


def test_through_a_preparing_committer_every_entry_has_its_canonical_bytes(world: World) -> None:
    committer = GroupCommitter(world.service.execute_many)
    committer.prepare_with(world.service.ahead.verify, workers=2, slice_size=3)
    futures = [
        committer.submit([world.message(USA, f"batch {b} item {i}") for i in range(7)]) for b in range(4)
    ]
    for future in futures:
        assert all(not isinstance(o, Exception) for o in future.result(30))
    committer.close()
    assert world.service.ahead.verified == 28
    for stored in world.store.read(TRACK):  # the spliced bytes, as stored, are the canonical form
        assert stored.signed_bytes == canonicalize(stored.decode().signed.to_dict())
    assert verify_store(world.store, TRACK).report.size == world.store.size(TRACK)
    assert replay(world.store, TRACK) == world.service.state(TRACK)
    texts = [
        e.decode().signed.event.body["command"]["payload"]["body"]["body"]["text"]  # type: ignore[index, call-overload]
        for e in world.store.read(TRACK)
        if e.decode().signed.event.type == "message.submitted"
    ]
    assert texts == [f"batch {b} item {i}" for b in range(4) for i in range(7)]  # submission order kept


def test_recent_entries_are_kept_up_to_a_byte_budget_and_older_ones_come_from_the_store(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backchannel.service import tracks

    monkeypatch.setattr(tracks, "RECENT_BYTES", 8 * 1024)
    world.service.execute_many([world.message(USA, "y" * 1000) for _ in range(20)])
    kept = world.service.statistics().entries_recent
    assert 0 < kept < 8  # about 1.5 KiB each: the budget holds a few
    size = world.store.size(TRACK)
    for index in range(size):  # the newest from memory, the rest read back: the same entries
        assert (
            world.service.entry(TRACK, index)
            == next(iter(world.store.read(TRACK, index, index + 1))).decode()
        )


def test_a_verified_batch_is_remembered_once_and_its_commands_are_not_verified_again(world: World) -> None:
    from backchannel.protocol.wire import command_payload, sign_batch
    from backchannel.service.batch import check_batch, verify_batch

    payloads = [
        command_payload(
            USA.signing.key_id,
            track=TRACK,
            command="submit_message",
            member=USA.name,
            body=message_body("statement", {"text": f"batched {i}"}),
            issued_at=world.clock.now(),
            nonce=f"nonce-batch{i:04d}",
        )
        for i in range(4)
    ]
    commands = sign_batch(USA.signing, payloads)
    check_batch(TRACK, commands)
    state = world.service.state(TRACK)
    assert state is not None
    verify_batch(state, commands, world.clock.now(), world.service.ahead)
    assert world.service.ahead.verified == 4
    world.service.ahead.verify(commands)  # already verified under this key: skipped
    assert world.service.ahead.verified == 4
    outcomes = world.service.execute_many(commands)
    assert all(not isinstance(o, Exception) and not o.replayed for o in outcomes)
    assert len(world.service.ahead) == 0
    assert replay(world.store, TRACK) == world.service.state(TRACK)
