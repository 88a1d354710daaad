"""Commitments: publish SHA-256(salt || content) now, reveal later; a mismatch appends nothing."""

import hashlib
from dataclasses import replace

import pytest
from track_world import World

from backchannel.domain import PartyKind, visible_to
from backchannel.domain.agreements.commitment_commands import PublishCommitment, RevealCommitment
from backchannel.domain.agreements.commitments import (
    CommitmentMismatchError,
    CommitmentPublished,
    CommitmentRevealed,
    CommitmentStateError,
    UnknownCommitmentError,
    commitment_digest,
)
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError
from backchannel.domain.events import event_from_dict
from backchannel.domain.evolve import evolve
from backchannel.errors import EncodingError

SALT = bytes(range(16))
CONTENT = "next steps agreed: a second round in Muscat on 12 May"


def publish(w: World, member: str = "iran/lead", salt: bytes = SALT, content: str = CONTENT) -> str:
    digest = commitment_digest(salt, content)
    (event,) = w.run(w.cmd(PublishCommitment, member, label="next steps agreed", commitment=digest))
    assert isinstance(event, CommitmentPublished)
    return event.commitment_id


def reveal(
    w: World, commitment_id: str, member: str = "iran/lead", salt: bytes = SALT, content: str = CONTENT
):
    return w.run(w.cmd(RevealCommitment, member, commitment_id=commitment_id, salt=salt, content=content))


def test_the_digest_is_sha256_of_salt_then_utf8_content() -> None:
    assert commitment_digest(b"s" * 16, "é") == hashlib.sha256(b"s" * 16 + "é".encode()).digest()


def test_publish_then_reveal(world: World) -> None:
    commitment_id = publish(world)
    record = world.s.commitment(commitment_id)
    assert (record.party, record.by, record.label, record.revealed_at) == (
        "iran",
        "iran/lead",
        "next steps agreed",
        None,
    )
    world.tick()
    (revealed,) = reveal(world, commitment_id)
    assert isinstance(revealed, CommitmentRevealed)
    record = world.s.commitment(commitment_id)
    assert (record.revealed_by, record.revealed_at, record.salt, record.content) == (
        "iran/lead",
        world.now,
        SALT,
        CONTENT,
    )
    with pytest.raises(
        CommitmentStateError, match=f"commitment {commitment_id} was already revealed by iran/lead at"
    ):
        reveal(world, commitment_id)


def test_a_mismatched_reveal_is_refused_with_both_hashes(world: World) -> None:
    commitment_id = publish(world)
    before = world.s
    with pytest.raises(CommitmentMismatchError) as e:
        reveal(world, commitment_id, content=CONTENT + ".")
    assert str(e.value) == (
        f"the reveal does not match commitment {commitment_id}: SHA-256(salt || content) is "
        f"{commitment_digest(SALT, CONTENT + '.').hex()}, but the published hash is "
        f"{commitment_digest(SALT, CONTENT).hex()}"
    )
    with pytest.raises(CommitmentMismatchError):
        reveal(world, commitment_id, salt=bytes(16))
    assert world.s is before


def test_who_may_publish_and_reveal(world: World) -> None:
    mediator = publish(world, "med/chair")
    reveal(world, mediator, "med/chair")
    for member in ("iran/deputy", "usa/watch", "med/staff", "med/service", "iaea/lead", "swiss/lead"):
        with pytest.raises(NotAuthorizedError, match="may not publish commitments"):
            publish(world, member)
    commitment_id = publish(world, "usa/lead")
    with pytest.raises(NotAuthorizedError, match="usa published it, and only a principal of usa may"):
        reveal(world, commitment_id, "iran/lead")
    with pytest.raises(NotAuthorizedError, match="may not reveal commitments"):
        reveal(world, commitment_id, "usa/aide")
    with pytest.raises(UnknownCommitmentError, match="no commitment"):
        reveal(world, "ab" * 32)


def test_command_shapes() -> None:
    w = World()
    with pytest.raises(SchemaViolationError) as e:
        w.cmd(PublishCommitment, "iran/lead", label="", commitment=b"x")
    assert {v.field for v in e.value.violations} == {"label", "commitment"}
    with pytest.raises(SchemaViolationError) as e:
        w.cmd(RevealCommitment, "iran/lead", commitment_id="x", salt=b"short", content="")
    assert {v.field for v in e.value.violations} == {"commitment_id", "salt", "content"}
    with pytest.raises(SchemaViolationError, match="salt: expected 16 to 64 bytes"):
        w.cmd(RevealCommitment, "iran/lead", commitment_id="ab" * 32, salt=b"x" * 65, content="c")


def test_events_round_trip_decode_strictly_and_are_seen_by_mediator_and_delegations(
    world: World, members
) -> None:
    commitment_id = publish(world)
    reveal(world, commitment_id)
    published, revealed = world.events[-2:]
    for event in (published, revealed):
        assert event_from_dict(event.to_dict()) == event
    assert revealed.to_dict()["salt"] == SALT.hex()
    for bad in ("0g" * 16, "ab" * 15, "AB" * 16, 5):
        with pytest.raises(EncodingError, match="salt: expected 16 to 64 bytes as lowercase hex"):
            CommitmentRevealed.from_dict({**revealed.to_dict(), "salt": bad})
    for member in members:
        kind = world.s.parties[world.s.members[member].party].kind
        expected = kind in {PartyKind.MEDIATOR, PartyKind.DELEGATION}
        assert visible_to(world.s, member, published) is expected
        assert visible_to(world.s, member, revealed) is expected


def test_fold_refuses_a_reveal_of_an_unknown_commitment(world: World) -> None:
    commitment_id = publish(world)
    (revealed,) = reveal(world, commitment_id)
    with pytest.raises(TrackStateError, match="unknown"):
        evolve(replace(world.s, commitments=type(world.s.commitments)()), revealed)
