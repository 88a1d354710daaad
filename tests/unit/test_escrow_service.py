"""EscrowService without HTTP: expiry on a fake clock, idempotent ticks, races, status and its read rule."""

from datetime import timedelta
from itertools import count
from typing import Any

import pytest

from backchannel.domain.agreements.escrow_book import EscrowStatus
from backchannel.domain.errors import TrackStateError
from backchannel.errors import NotFoundError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.escrow import EscrowService, expiry_key
from backchannel.service.log import LogWriter
from backchannel.service.tracks import CommandResult, TrackService, replay
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import new_key_json, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
IAEA = pair(5, "iaea/principal")
DAY = timedelta(days=1)


class World:
    """A track with qatar, usa, iran, the inspector iaea and one metric, on a memory store."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = MemoryEventStore()
        signer = NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32))
        self.writer = LogWriter(self.store, signer, clock=self.clock)
        self.tracks = TrackService(self.writer, NODE, clock=self.clock)
        self.escrows = EscrowService(self.tracks, NODE, clock=self.clock)
        self.nonces = count()
        for who, command, body in opening(QATAR, NODE, (USA, IRAN)):
            self.run(who, command, body)
        admit = {
            "party": "iaea",
            "kind": "inspector",
            "principal": IAEA.name,
            "principal_key": new_key_json(IAEA),
        }
        self.run(QATAR, "admit_party", admit)
        self.run(QATAR, "define_metric", {
            "metric": "iaea.enrichment_pct", "unit": "%", "issue": None, "inspectors": ["iaea"], "quorum": 1,
            "tolerance": 0, "tolerance_kind": "absolute", "window_seconds": 86400,
        })  # fmt: skip

    def run(self, who: KeyPair, command: str, body: dict[str, Any]) -> CommandResult:
        signed = sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"nonce-{next(self.nonces):08d}",
        )  # fmt: skip
        return self.tracks.execute(signed)

    def open(self, escrow_id: str, expires_in: timedelta) -> None:
        terms = {
            "escrow_id": escrow_id,
            "items": [{"what": "assets", "amount": 6e9, "unit": "USD", "owner": "usa", "beneficiary": "iran"}],
            "signers": ["usa"], "threshold": 1,
            "predicates": ["iaea.enrichment_pct <= 3.67 sustained for 1 day"],
            "expires_at": format_timestamp(self.clock.now() + expires_in),
        }  # fmt: skip
        self.run(QATAR, "open_escrow", {"terms": terms})


@pytest.fixture
def world() -> World:
    return World()


def test_expired_escrows_refund_once_in_expiry_order(world: World) -> None:
    world.open("late", 3 * DAY)
    world.open("early", DAY)
    assert world.escrows.next_wakeup(TRACK) == world.clock.now() + DAY
    assert world.escrows.tick(TRACK) == []
    world.clock.advance(DAY)
    assert world.escrows.due(TRACK) == ["early"]
    assert world.escrows.tick(TRACK) == ["early"]
    assert world.escrows.tick(TRACK) == []  # idempotent: nothing is logged twice
    assert world.escrows.next_wakeup(TRACK) == world.clock.now() + 2 * DAY
    assert world.escrows.tick_due() == 1.0  # the next expiry is two days away: check again in a second
    world.clock.advance(2 * DAY - timedelta(milliseconds=500))
    assert world.escrows.tick_due() == 0.5
    world.clock.advance(timedelta(seconds=1))
    world.escrows.tick_due()
    state = world.tracks.state(TRACK)
    assert state is not None
    statuses = {e.escrow_id: e.status for e in state.escrows.escrows.values()}
    assert statuses == {"early": EscrowStatus.REFUNDED, "late": EscrowStatus.REFUNDED}
    assert state.idempotent_result(state.service_member, expiry_key("early")) is not None
    assert world.escrows.next_wakeup(TRACK) is None
    replay(world.store, TRACK)


def test_a_refund_someone_else_logged_first_is_skipped(world: World) -> None:
    world.open("assets", DAY)
    world.clock.advance(DAY)
    other = EscrowService(world.tracks, NODE, clock=world.clock)
    assert other.tick(TRACK) == ["assets"]
    assert world.escrows.tick(TRACK) == []


def test_a_refund_refused_for_another_reason_is_raised(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.open("assets", DAY)
    world.clock.advance(DAY)

    def refuse(signed: object) -> CommandResult:
        raise TrackStateError("the store said no")

    monkeypatch.setattr(world.tracks, "execute", refuse)
    with pytest.raises(TrackStateError, match="the store said no"):
        world.escrows.tick(TRACK)
    assert world.escrows.tick_due() == 1.0  # logged, and the other tracks go on


def test_a_refund_that_lost_the_race_to_a_release_is_ignored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.open("assets", DAY)
    world.clock.advance(DAY)
    real = world.tracks.execute

    def race(signed: object) -> CommandResult:
        # another node refunded it a moment ago, under the same idempotency key but another digest
        monkeypatch.setattr(world.tracks, "execute", real)
        EscrowService(world.tracks, NODE, clock=FakeClock(world.clock.now() + timedelta(seconds=1))).tick(
            TRACK
        )
        return real(signed)  # type: ignore[arg-type]

    monkeypatch.setattr(world.tracks, "execute", race)
    assert world.escrows.tick(TRACK) == []


def test_status_follows_the_read_rule(world: World) -> None:
    world.open("assets", DAY)
    view = world.escrows.status(TRACK, "assets", "iran/principal")
    assert view.record.escrow_id == "assets"
    assert view.check.reason.startswith("0 of 1 signatures")
    assert view.at == world.clock.now()
    for member in ("iaea/principal", "nobody/x"):
        with pytest.raises(NotFoundError, match="no escrow 'assets' on track 'doha'"):
            world.escrows.status(TRACK, "assets", member)
    with pytest.raises(NotFoundError, match="no escrow 'ghost'"):
        world.escrows.status(TRACK, "ghost", "usa/principal")
    with pytest.raises(NotFoundError, match="not open here"):
        world.escrows.status("elsewhere", "assets", "usa/principal")
    world.writer.open_track("empty")
    assert world.escrows.tick_due() == 1.0  # a created track with nothing opened in it is skipped
