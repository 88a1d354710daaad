"""The escrow invariant: no release before its condition holds or after expiry, no early refund."""

from datetime import timedelta
from itertools import count

from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.wire import sign_command
from backchannel.service.escrow import EscrowService
from backchannel.service.log import Draft, LogWriter
from backchannel.service.tracks import TrackService
from backchannel.sim.invariants import Observations, check_invariants
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import new_key_json, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "escrow-invariant"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
IAEA = pair(5, "iaea/principal")
DAY = timedelta(days=1)
FORGER = SigningKey.from_seed(bytes([7]) * 32)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = MemoryEventStore()
        signer = NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32))
        self.writer = LogWriter(self.store, signer, clock=self.clock)
        self.tracks = TrackService(self.writer, NODE, clock=self.clock)
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

    def attest(self, value: float) -> None:
        observed = format_timestamp(self.clock.now())
        body = {
            "metric": "iaea.enrichment_pct",
            "value": value,
            "unit": "%",
            "observed_at": observed,
            "site": "natanz",
        }
        self.run(IAEA, "file_attestation", body)

    def run(self, who, command, body):
        signed = sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"nonce-{next(self.nonces):08d}",
        )  # fmt: skip
        return self.tracks.execute(signed)

    def open(self, escrow_id: str, expires_in: timedelta) -> str:
        """Open an escrow (usa's signature and the enrichment predicate); return its digest."""
        terms = {
            "escrow_id": escrow_id,
            "items": [{"what": "assets", "amount": 6e9, "unit": "USD", "owner": "usa", "beneficiary": "iran"}],
            "signers": ["usa"], "threshold": 1, "predicates": ["iaea.enrichment_pct <= 3.67 sustained for 1 day"],
            "expires_at": format_timestamp(self.clock.now() + expires_in),
        }  # fmt: skip
        opened = self.run(QATAR, "open_escrow", {"terms": terms})
        return opened.events[0].to_dict()["escrow_digest"]

    def problems(self) -> list[str]:
        log_key = self.store.get_track(TRACK).log_key
        return [
            p
            for p in check_invariants(self.store, TRACK, log_key, Observations()).violations
            if "escrow" in p or "obligation" in p
        ]

    def forge(self, kind: str, event: dict) -> None:
        """A broken service: an event appended without its command's rule (signed by a registered key)."""
        register = {"member": "qatar/forger", "ed25519": FORGER.verifying_key.to_text()}
        self.writer.append(TRACK, [Draft(KEY_REGISTERED, "qatar/forger", register, FORGER)])
        event = {**event, "idempotency_key": None}
        self.writer.append(TRACK, [Draft(kind, "qatar/forger", {"command": {}, "event": event}, FORGER)])

    def released_event(self) -> dict:
        return next(
            dict(s.decode().signed.event.body["event"])
            for s in self.store.read(TRACK)
            if s.decode().signed.event.type == "escrow.released"
        )


def _signed_and_released(world: World) -> None:
    world.attest(3.6)
    digest = world.open("assets", 3 * DAY)
    world.run(USA, "sign_escrow_release", {"escrow_id": "assets", "escrow_digest": digest})
    world.run(IRAN, "release_escrow", {"escrow_id": "assets"})


def test_a_release_whose_condition_held_and_a_refund_at_expiry_pass():
    world = World()
    _signed_and_released(world)
    world.open("later", DAY)
    world.clock.advance(DAY)
    EscrowService(world.tracks, NODE, clock=world.clock).tick(TRACK)
    assert world.problems() == []


def test_a_release_without_its_signatures_is_caught():
    world = World()
    _signed_and_released(world)
    world.open("unsigned", 3 * DAY)
    world.forge("escrow.released", {**world.released_event(), "escrow_id": "unsigned"})
    [problem] = world.problems()
    assert "escrow unsigned released at entry" in problem
    assert "0 of 1 signatures" in problem


def test_a_release_after_expiry_is_caught():
    world = World()
    _signed_and_released(world)
    digest = world.open("expired", DAY)
    world.run(USA, "sign_escrow_release", {"escrow_id": "expired", "escrow_digest": digest})
    world.clock.advance(2 * DAY)
    late = {**world.released_event(), "escrow_id": "expired", "at": format_timestamp(world.clock.now())}
    world.forge("escrow.released", late)
    [problem] = world.problems()
    assert "escrow expired released at entry" in problem
    assert "expired at" in problem


def test_a_refund_before_expiry_is_caught():
    world = World()
    world.open("early", 3 * DAY)
    world.open("due", DAY)
    world.clock.advance(DAY)
    EscrowService(world.tracks, NODE, clock=world.clock).tick(TRACK)
    refund = next(
        dict(s.decode().signed.event.body["event"])
        for s in world.store.read(TRACK)
        if s.decode().signed.event.type == "escrow.refunded"
    )
    world.forge("escrow.refunded", {**refund, "escrow_id": "early"})
    assert world.problems() == [
        f"escrow early refunded at entry {world.store.get_track(TRACK).size - 1}, before it expired"
    ]
