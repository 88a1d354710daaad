"""Group commit on SQLite: many commands, one append, each decided as if alone."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from backchannel.broker import DeliveryPolicy
from backchannel.domain import MessageSubmitted
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError
from backchannel.errors import (
    BackchannelError,
    ConflictError,
    EncodingError,
    NotFoundError,
    VerificationError,
    WouldBlock,
)
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, sign_command
from backchannel.service.delivery import DeliveryService
from backchannel.service.export import verify_store
from backchannel.service.log import LogWriter
from backchannel.service.tracks import CommandResult, TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-talks"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)


class World:
    def __init__(self, path: Path, queue_limit: int = 100) -> None:
        self.clock = FakeClock()
        self.store = SQLiteEventStore(path)
        self.writer = LogWriter(self.store, NoteSigner("test.log", LOG_KEY), clock=self.clock)
        self.tracks = TrackService(self.writer, NODE, clock=self.clock)
        policy = DeliveryPolicy(queue_limit=queue_limit)
        self.delivery = DeliveryService(self.tracks, NODE, policy, clock=self.clock)
        self.counter = 0

    def signed(
        self, who: KeyPair, command: str, body: dict[str, Any], idem: str | None = None, track: str = TRACK
    ) -> SignedCommand:
        self.counter += 1
        return sign_command(
            who.signing,
            track=track,
            command=command,
            member=who.name,
            body=body,
            issued_at=self.clock.now(),
            nonce=f"nonce-{self.counter:08d}",
            idempotency_key=idem,
        )

    def open(self, track: str = TRACK) -> None:
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
            self.delivery.submit(self.signed(who, command, body, track=track))

    def say(self, who: KeyPair, text: str, idem: str | None = None, track: str = TRACK) -> SignedCommand:
        return self.signed(who, "submit_message", message_body("statement", {"text": text}), idem, track)

    def checkpoints(self, track: str = TRACK) -> int:
        return len(list(self.store.checkpoints(track)))


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path / "db.sqlite3")
    w.open()
    return w


def results(outcomes: Sequence[CommandResult | BackchannelError]) -> list[CommandResult]:
    assert all(isinstance(o, CommandResult) for o in outcomes), outcomes
    return [o for o in outcomes if isinstance(o, CommandResult)]


def test_a_batch_is_one_append_with_one_checkpoint_and_each_command_keeps_its_own_events(
    world: World,
) -> None:
    size, checkpoints = world.store.size(TRACK), world.checkpoints()
    batch = [world.say(USA, f"statement {i}") for i in range(5)]
    done = results(world.tracks.execute_many(batch))
    assert [r.first_index for r in done] == list(range(size, size + 5))
    assert len({r.checkpoint.to_text() for r in done if r.checkpoint is not None}) == 1
    assert done[0].checkpoint is not None
    assert done[0].checkpoint.checkpoint.size == size + 5
    assert world.checkpoints() == checkpoints + 1
    assert [type(r.events[0]) for r in done] == [MessageSubmitted] * 5
    verify_store(world.store, TRACK, log_key=world.tracks.log_key)
    state = replay(world.store, TRACK)
    assert all(r.events[0].message_id in state.messages for r in done)  # type: ignore[union-attr]


def test_a_refused_command_gets_its_error_and_the_others_are_appended(world: World) -> None:
    size = world.store.size(TRACK)
    good = world.say(USA, "first")
    not_allowed = world.signed(
        QATAR, "submit_message", message_body("statement", {"text": "mediators relay"})
    )
    malformed = world.signed(USA, "submit_message", {"kind": "telegram", "body": {}})
    forged = SignedCommand(world.say(IRAN, "forged").payload, world.say(USA, "x").signature)
    also_good = world.say(IRAN, "second")
    outcomes = world.tracks.execute_many([good, not_allowed, malformed, forged, also_good])
    assert isinstance(outcomes[1], NotAuthorizedError)
    assert isinstance(outcomes[2], SchemaViolationError | EncodingError)
    assert isinstance(outcomes[3], VerificationError)
    first, last = results([outcomes[0], outcomes[4]])
    assert (first.first_index, last.first_index) == (size, size + 1)
    assert world.store.size(TRACK) == size + 2
    replay(world.store, TRACK)


def test_later_commands_see_what_earlier_ones_in_the_batch_did(world: World) -> None:
    original = world.say(USA, "once", idem="usa-1")
    retry = original  # the very same signed command, twice in one batch
    conflicting = world.say(USA, "a different body under the same key", idem="usa-1")
    outcomes = world.tracks.execute_many([original, retry, conflicting])
    first, again = results(outcomes[:2])
    assert not first.replayed
    assert again.replayed
    assert again.first_index is None
    assert again.events == first.events
    assert isinstance(outcomes[2], BackchannelError)
    assert world.store.size(TRACK) == first.first_index + 1  # type: ignore[operator]


def test_a_message_accepted_earlier_in_the_batch_cannot_be_submitted_twice(world: World) -> None:
    message = world.say(USA, "no idempotency key")
    outcomes = world.tracks.execute_many([message, message])
    assert isinstance(outcomes[0], CommandResult)
    assert isinstance(outcomes[1], TrackStateError)
    assert "already accepted" in str(outcomes[1])


def test_commands_for_two_tracks_are_one_append_per_track(world: World) -> None:
    world.open("second-track")
    sizes = (world.store.size(TRACK), world.store.size("second-track"))
    batch = [world.say(USA, "a"), world.say(USA, "b", track="second-track"), world.say(IRAN, "c")]
    done = results(world.tracks.execute_many(batch))
    assert [r.first_index for r in done] == [sizes[0], sizes[1], sizes[0] + 1]
    assert done[0].checkpoint == done[2].checkpoint
    assert done[0].checkpoint != done[1].checkpoint


def test_a_track_can_be_opened_and_used_in_one_batch(tmp_path: Path) -> None:
    world = World(tmp_path / "db.sqlite3")
    script = [world.signed(who, command, body) for who, command, body in opening(QATAR, NODE, (USA, IRAN))]
    done = results(world.tracks.execute_many([*script, world.say(USA, "hello")]))
    assert done[0].first_index == 1  # after the service key's registration
    assert world.checkpoints() == 1
    assert replay(world.store, TRACK).messages


def test_a_lost_race_decides_the_whole_batch_again(world: World) -> None:
    rival = TrackService(world.writer, NODE, clock=world.clock)
    world.tracks.state(TRACK)  # loaded: the rival's append is news to it
    rival.execute(world.say(IRAN, "the rival was first"))
    done = results(world.tracks.execute_many([world.say(USA, "mine")]))
    assert done[0].first_index == world.store.size(TRACK) - 1
    replay(world.store, TRACK)


def test_a_batch_that_keeps_losing_races_appends_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lose(*_: Any, **__: Any) -> Any:
        raise ConflictError("another writer appended first")

    monkeypatch.setattr(world.writer, "append", lose)
    size = world.store.size(TRACK)
    with pytest.raises(ConflictError, match="lost 12 append races"):
        world.tracks.execute_many([world.say(USA, "a"), world.say(USA, "b")])
    assert world.store.size(TRACK) == size


def test_backpressure_counts_the_commands_admitted_earlier_in_the_batch(tmp_path: Path) -> None:
    world = World(tmp_path / "db.sqlite3", queue_limit=3)
    world.open()
    outcomes = world.delivery.submit_many([world.say(USA, f"m{i}") for i in range(5)])
    assert [type(o) for o in outcomes[:3]] == [CommandResult] * 3
    assert all(isinstance(o, WouldBlock) for o in outcomes[3:])
    assert world.delivery.statistics(TRACK)["qatar"].queued == 3
    assert "full (3 of 3)" in str(outcomes[3])


def test_submit_many_queues_every_accepted_message_and_reports_undecodable_ones(world: World) -> None:
    garbage = world.signed(USA, "submit_message", {"kind": "statement"})
    outcomes = world.delivery.submit_many([world.say(USA, "one"), garbage, world.say(IRAN, "two")])
    assert isinstance(outcomes[1], BackchannelError)
    assert world.delivery.statistics(TRACK)["qatar"].queued == 2
    leased = world.delivery.lease(TRACK, QATAR.name)
    assert [d.envelope.message_id for d in leased] == [
        o.events[0].message_id  # type: ignore[union-attr]
        for o in (outcomes[0], outcomes[2])
        if isinstance(o, CommandResult)
    ]


def test_a_forward_batch_delivers_in_order(world: World) -> None:
    said = results(world.delivery.submit_many([world.say(USA, f"m{i}") for i in range(3)]))
    ids = [str(r.events[0].message_id) for r in said]  # type: ignore[union-attr]
    forwards = [
        world.signed(QATAR, "forward_message", {"message_id": m, "to_parties": ["iran"]}) for m in ids
    ]
    results(world.delivery.submit_many(forwards))
    leased = world.delivery.lease(TRACK, IRAN.name, max_n=10)
    assert [d.envelope.message_id for d in leased] == ids
    assert world.delivery.statistics(TRACK)["qatar"].queued == 0


def test_an_empty_batch_does_nothing(world: World) -> None:
    size = world.store.size(TRACK)
    assert world.delivery.submit_many([]) == []
    assert world.store.size(TRACK) == size


def test_entries_come_from_memory_after_an_append_and_from_the_store_otherwise(world: World) -> None:
    [done] = results(world.tracks.execute_many([world.say(USA, "fresh")]))
    index = done.first_index
    assert index is not None
    fresh = world.tracks.entry(TRACK, index)
    restarted = TrackService(world.writer, NODE, clock=world.clock)  # nothing in memory
    stored = restarted.entry(TRACK, index)
    assert fresh.signed.to_dict() == stored.signed.to_dict()
    assert (fresh.seq, fresh.salt, fresh.leaf_hash) == (stored.seq, stored.salt, stored.leaf_hash)
    with pytest.raises(NotFoundError, match=f"no entry {index + 1}"):
        restarted.entry(TRACK, index + 1)
