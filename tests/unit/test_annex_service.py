"""AnnexService without HTTP: the size limit, the digest check, idempotency and the read rule (ADR-0014)."""

import hashlib
from datetime import timedelta
from itertools import count
from typing import Any

import pytest

from backchannel.domain import MessageSubmitted
from backchannel.domain.errors import SchemaViolationError, UnknownMemberError
from backchannel.errors import NotFoundError, PayloadTooLargeError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.annexes import AnnexService, AnnexUpload
from backchannel.service.log import LogWriter
from backchannel.service.tracks import CommandResult, TrackService
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
LIMIT = 64


class World:
    """A track (qatar mediating usa and iran) on a memory store, and a way to run members' commands."""

    def __init__(self) -> None:
        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        signer = NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32))
        self.tracks = TrackService(
            LogWriter(MemoryEventStore(), signer, clock=self.clock), NODE, clock=self.clock
        )
        self.nonces = count()
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
            self.run(who, command, body)

    def run(self, who: KeyPair, command: str, body: dict[str, Any]) -> CommandResult:
        signed = sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"nonce-{next(self.nonces):08d}",
        )  # fmt: skip
        return self.tracks.execute(signed)


@pytest.fixture
def world() -> World:
    return World()


def test_upload_checks_size_and_digest_and_records_each_party_once(world: World) -> None:
    annexes = AnnexService(world.tracks, max_bytes=LIMIT)
    data = b"x" * LIMIT
    digest = hashlib.sha256(data).digest()
    assert annexes.upload(TRACK, "usa/principal", digest, data) == AnnexUpload(digest, LIMIT, created=True)
    assert annexes.upload(TRACK, "usa/principal", digest, data).created is False
    assert annexes.upload(TRACK, "iran/principal", digest, data).created is True
    with pytest.raises(PayloadTooLargeError, match=f"annex larger than the limit of {LIMIT} bytes") as big:
        annexes.upload(TRACK, "usa/principal", hashlib.sha256(data + b"x").digest(), data + b"x")
    assert big.value.limit == LIMIT
    with pytest.raises(SchemaViolationError) as wrong:
        annexes.upload(TRACK, "usa/principal", bytes(32), b"not those bytes")
    assert [(v.field, v.rule) for v in wrong.value.violations] == [("digest", "sha256_of_body")]
    with pytest.raises(UnknownMemberError):
        annexes.upload(TRACK, "usa/ghost", digest, data)
    with pytest.raises(NotFoundError, match="no track 'elsewhere'"):
        annexes.upload("elsewhere", "usa/principal", digest, data)


def test_fetch_follows_the_read_rule_and_hides_what_it_refuses(world: World) -> None:
    annexes = AnnexService(world.tracks)
    data = b"annex"
    digest = hashlib.sha256(data).digest()
    annexes.upload(TRACK, "usa/principal", digest, data)
    assert annexes.fetch(TRACK, "usa/principal", digest) == data
    assert annexes.fetch(TRACK, "qatar/principal", digest) == data  # the mediator
    unknown = hashlib.sha256(b"nobody").digest()
    for member, wanted in (("iran/principal", digest), ("iran/principal", unknown), ("usa/ghost", digest)):
        with pytest.raises(NotFoundError) as refused:
            annexes.fetch(TRACK, member, wanted)
        assert str(refused.value) == f"no annex {wanted.hex()} on track {TRACK!r}"
    body = {**message_body("statement", {"text": "see annex"}), "annexes": [digest.hex()]}
    (event,) = world.run(USA, "submit_message", body).events
    assert isinstance(event, MessageSubmitted)
    world.run(QATAR, "forward_message", {"message_id": event.message_id, "to_parties": ["iran"]})
    assert annexes.fetch(TRACK, "iran/principal", digest) == data  # delivered with the message
    with pytest.raises(NotFoundError, match="no track"):
        annexes.fetch("elsewhere", "usa/principal", digest)
