"""statistics() on the committer, the track and delivery services, the nonce store and the obligation monitor."""

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.broker import DeliveryPolicy
from backchannel.errors import BackchannelError, OperationalError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.nonces import NonceCache
from backchannel.protocol.wire import SignedCommand, enrolment_key, sign_command
from backchannel.service.committer import GroupCommitter, Outcome
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.obligations import ObligationService
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "stats-track"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class World:
    def __init__(self, path: Path) -> None:
        self.clock = FakeClock()
        self.store = SQLiteEventStore(path)
        writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x07" * 32)), clock=self.clock
        )
        self.tracks = TrackService(writer, NODE, clock=self.clock)
        self.delivery = DeliveryService(self.tracks, NODE, DeliveryPolicy(), clock=self.clock)
        self.counter = 0

    def signed(
        self, who: KeyPair, command: str, body: dict[str, Any], key: str | None = None
    ) -> SignedCommand:
        self.counter += 1
        return sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"n-{self.counter:06d}", idempotency_key=key,
        )  # fmt: skip

    def open(self) -> None:
        for who, command, body in opening(QATAR, NODE, (USA,), agenda=None):
            self.delivery.submit(self.signed(who, command, body))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "stats.sqlite3")


# --- the nonce store -------------------------------------------------------------------------------


def test_the_nonce_store_counts_what_it_accepts_refuses_and_forgets() -> None:
    cache = NonceCache(timedelta(seconds=60), 2)
    start = cache.statistics()
    assert (start.held, start.max_entries, start.window_seconds, start.accepted_total) == (0, 2, 60.0, 0)
    cache.check_and_add("k", "a", T0, T0)
    cache.check_and_add("k", "b", T0, T0)
    with pytest.raises(VerificationError):
        cache.check_and_add("k", "a", T0, T0)  # a replay
    with pytest.raises(OperationalError):
        cache.check_and_add("k", "c", T0, T0)  # full
    with pytest.raises(VerificationError):
        cache.check_and_add("k", "d", T0 - timedelta(seconds=120), T0)  # older than the window
    full = cache.statistics()
    assert (full.held, full.accepted_total, full.replays_refused_total, full.full_refusals_total) == (
        2,
        2,
        2,
        1,
    )
    later = T0 + timedelta(seconds=61)
    cache.check_and_add("k", "e", later, later)
    after = cache.statistics()
    assert (after.held, after.expired_total, after.accepted_total) == (1, 2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        after.held = 0  # type: ignore[misc]


# --- the group committer ---------------------------------------------------------------------------


def test_the_committer_counts_groups_commands_and_failures(world: World) -> None:
    committer = GroupCommitter(world.delivery.submit_many)
    try:
        script = opening(QATAR, NODE, (USA,), agenda=None)
        outcomes = committer.execute([world.signed(*script[0])])
        assert not isinstance(outcomes[0], Exception)
        committer.execute([world.signed(who, command, body) for who, command, body in script[1:]])
        stats = committer.statistics()
        assert stats.groups_written == 2
        assert stats.commands_written == len(script)
        assert stats.largest_group == len(script) - 1
        assert (stats.groups_failed, stats.requests_waiting, stats.closed) == (0, 0, False)
    finally:
        committer.close()
    assert committer.statistics().closed


def test_a_failed_group_is_counted_as_failed(world: World) -> None:
    def unavailable(_: Sequence[SignedCommand]) -> list[Outcome]:
        raise OperationalError("the store is unavailable")

    committer = GroupCommitter(unavailable)
    try:
        with pytest.raises(OperationalError):
            committer.execute([world.signed(QATAR, "open_track", {})])
        stats = committer.statistics()
        assert (stats.groups_written, stats.groups_failed, stats.commands_written) == (0, 1, 0)
    finally:
        committer.close()


# --- the track service -----------------------------------------------------------------------------


def test_the_track_service_counts_appends_replays_and_refusals(world: World) -> None:
    assert world.tracks.statistics().commands_appended == 0
    world.open()
    opened = world.tracks.statistics()
    assert opened.commands_appended == 2  # open_track, admit_party
    assert opened.appends == 2
    assert opened.tracks_loaded == 1
    statement = world.signed(USA, "submit_message", message_body("statement", {"text": "hello"}), key="once")
    world.delivery.submit(statement)
    world.delivery.submit(statement)  # the same signed command again: a replay
    iran = pair(4, "iran/principal")
    admit = {
        "party": "iran",
        "kind": "delegation",
        "principal": iran.name,
        "principal_key": enrolment_key(iran),
    }
    with pytest.raises(BackchannelError):  # only the mediator admits parties
        world.tracks.execute(world.signed(USA, "admit_party", admit))
    with pytest.raises(BackchannelError):  # a malformed body, refused before any rule
        world.tracks.execute(world.signed(USA, "admit_party", {**admit, "principal_key": {}}))
    stats = world.tracks.statistics()
    assert (stats.commands_appended, stats.commands_replayed, stats.commands_refused) == (3, 1, 2)
    assert stats.races_lost == 0


# --- the delivery service --------------------------------------------------------------------------


def test_the_delivery_service_totals_its_queues_and_held_leases(world: World) -> None:
    empty = world.delivery.statistics()
    assert (empty.tracks, empty.queues, empty.queued) == (0, 0, 0)
    world.open()
    world.delivery.submit(world.signed(USA, "submit_message", message_body("statement", {"text": "hi"})))
    queued = world.delivery.statistics()
    assert (queued.tracks, queued.queues, queued.queued, queued.in_flight) == (1, 2, 1, 0)
    (leased,) = world.delivery.lease(TRACK, QATAR.name)
    held = world.delivery.statistics()
    assert (held.in_flight, held.leases_held) == (1, 1)
    assert world.delivery.statistics(TRACK)["qatar"].in_flight == held.in_flight  # the per-track view agrees
    assert [d.envelope.message_id for d in world.delivery.resend(TRACK, QATAR.name, -1)] == [
        leased.envelope.message_id
    ]
    assert world.delivery.resend(TRACK, QATAR.name, leased.envelope.log_index) == []


# --- the obligation monitor ------------------------------------------------------------------------


def test_the_obligation_monitor_counts_its_sweeps(world: World) -> None:
    monitor = ObligationService(world.tracks, NODE, clock=world.clock)
    world.open()
    assert monitor.tick_due() is None
    assert monitor.tick_due() is None
    stats = monitor.statistics()
    assert (stats.sweeps, stats.reviews_signed, stats.reviews_skipped, stats.track_failures) == (2, 0, 0, 0)
