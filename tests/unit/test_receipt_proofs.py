"""verify_receipt_proof: a genuine proof verifies; every tampered one is refused, naming why.

The proofs are built from a real track (the track service on SQLite, real
keys) in the shape ``GET .../messages/{id}/receipts`` answers; inclusion proofs
and the checkpoint come from the store. Entries a dishonest service could
write (a forged or inconsistent receipt) are appended with the log writer
directly, as the service's own key would sign them.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.errors import VerificationError
from backchannel.log.checkpoint import Checkpoint, NoteSigner
from backchannel.log.records import LogEntry
from backchannel.log.signing import SigningKey, b64encode
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, enrolment_key
from backchannel.sdk import receipt_digest
from backchannel.sdk.receipts import ReceiptProof, verify_receipt_proof
from backchannel.service.log import Draft, LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import CommandSigner, message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
IRAN_DELEGATE = pair(5, "iran/delegate")


class World:
    """A track where usa's message A is delivered to iran and settled, and B is delivered but pending."""

    def __init__(self, path: Path, track: str = TRACK) -> None:
        self.track = track
        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        self.store = SQLiteEventStore(path)
        self.writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.service = TrackService(self.writer, NODE, clock=self.clock)
        self.signer = CommandSigner(self.clock, self.track)
        for who, command, body in opening(QATAR, NODE, (USA, IRAN)):
            self.run(who, command, body)
        self.run(IRAN, "enroll_member", {
            "new_member": IRAN_DELEGATE.name, "role": "delegate", "new_key": enrolment_key(IRAN_DELEGATE),
        })  # fmt: skip
        self.a = self.say("a")
        self.a_at = self.forward(self.a)
        self.b = self.say("b")
        self.b_at = self.forward(self.b)
        self.receipt_at = self.settle(IRAN, (self.a, self.a_at))
        self.submitted_b = self.a_at + 1  # B's message.submitted entry
        reframe = {"message_id": self.a, "to_parties": ["iran"], "body": {"text": "a, reframed"},
                   "annexes": [], "agenda_version": None}  # fmt: skip
        self.r_signed = self.signed(QATAR, "reframe_message", reframe)
        self.r = self.r_signed.digest.hex()
        result = self.service.execute(self.r_signed)
        assert result.first_index is not None
        self.r_at = result.first_index  # a reframing is delivered by the entry that creates it

    def signed(self, who: KeyPair, command: str, body: dict[str, Any]) -> SignedCommand:
        return self.signer.sign(who, command, body)

    def run(self, who: KeyPair, command: str, body: dict[str, Any]) -> int:
        result = self.service.execute(self.signed(who, command, body))
        assert result.first_index is not None
        return result.first_index

    def say(self, text: str) -> str:
        signed = self.signed(USA, "submit_message", message_body("statement", {"text": text}))
        self.service.execute(signed)
        return signed.digest.hex()  # a message's id is its command's digest

    def forward(self, message_id: str) -> int:
        return self.run(QATAR, "forward_message", {"message_id": message_id, "to_parties": ["iran"]})

    def settle(self, who: KeyPair, *items: tuple[str, int]) -> int:
        return self.run(who, "record_receipt", receipt_json(*items))

    def append(self, event_type: str, body: dict[str, Any]) -> int:
        """Append an entry as the service's key signs it (what a dishonest service could write)."""
        result = self.writer.append(TRACK, [Draft(event_type, NODE.name, body, NODE.signing)])
        return result.entries[-1].seq

    def entry(self, index: int) -> dict[str, Any]:
        """An entry as the events endpoint renders it."""
        (stored,) = self.store.read(self.track, index, index + 1)
        return {
            "index": stored.seq,
            "signed": dict(stored.decode().signed.to_dict()),
            "salt": b64encode(stored.salt),
            "leaf_hash": stored.leaf_hash.hex(),
        }

    def settled_proof(self) -> dict[str, Any]:
        return {
            "party": "iran",
            "status": "settled",
            "delivery_index": self.a_at,
            "delivery": self.entry(self.a_at),
            "log_index": self.receipt_at,
            "entry": self.entry(self.receipt_at),
            "signer": signer_json(IRAN),
            "item": {"message_id": self.a, "log_index": self.a_at},
        }

    def pending_proof(self) -> dict[str, Any]:
        return {
            "party": "iran", "status": "pending", "delivery_index": self.b_at, "delivery": self.entry(self.b_at),
            "log_index": None, "entry": None, "signer": None, "item": None,
        }  # fmt: skip

    def checkpoint(self) -> Checkpoint:
        note = self.store.latest_checkpoint(TRACK)
        assert note is not None
        return note.checkpoint

    def inclusion(self, size: int | None = None) -> Callable[[int], Sequence[bytes]]:
        size = self.store.size(TRACK) if size is None else size
        return lambda index: self.store.inclusion_proof(TRACK, index, size)

    def verify(self, proof: dict[str, Any], message_id: str | None = None, **kw: Any) -> ReceiptProof:
        return verify_receipt_proof(
            proof,
            track=TRACK,
            message_id=self.a if message_id is None else message_id,
            checkpoint=kw.get("checkpoint", self.checkpoint()),
            inclusion=kw.get("inclusion", self.inclusion()),
        )


def receipt_json(*items: tuple[str, int]) -> dict[str, Any]:
    return {"items": [list(i) for i in items], "receipt_digest": receipt_digest(items).hex()}


def signer_json(keys: KeyPair) -> dict[str, Any]:
    key = keys.signing.verifying_key
    return {"member": keys.name, "key_id": key.key_id, "ed25519": b64encode(key.public_bytes)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("receipts") / "db.sqlite3")


def refused(world: World, proof: dict[str, Any], pattern: str, **kw: Any) -> VerificationError:
    with pytest.raises(VerificationError, match=pattern) as info:
        world.verify(proof, **kw)
    assert str(info.value).startswith(f"proof of receipt of {kw.get('message_id', world.a)} by ")
    return info.value


# --- genuine proofs ---------------------------------------------------------------------------------


def test_a_settled_proof_verifies(world: World) -> None:
    proof = world.verify(world.settled_proof())
    assert proof.settled
    assert (proof.party, proof.status, proof.delivery_index, proof.log_index) == (
        "iran", "settled", world.a_at, world.receipt_at,
    )  # fmt: skip
    assert (proof.signer, proof.key_id) == (IRAN.name, IRAN.signing.key_id)
    assert proof.receipt is not None
    assert proof.receipt.payload["body"]["items"] == [[world.a, world.a_at]]
    assert proof.checkpoint_size == world.store.size(TRACK)


def test_a_pending_proof_proves_the_delivery_only(world: World) -> None:
    proof = world.verify(world.pending_proof(), message_id=world.b)
    assert not proof.settled
    assert (proof.status, proof.delivery_index, proof.log_index, proof.receipt) == (
        "pending",
        world.b_at,
        None,
        None,
    )
    dead = {**world.pending_proof(), "status": "dead_lettered"}
    assert world.verify(dead, message_id=world.b).status == "dead_lettered"


# --- the delivery -------------------------------------------------------------------------------------


def tampered(proof: dict[str, Any], path: Sequence[str | int], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(proof)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def test_an_unknown_status_is_refused(world: World) -> None:
    refused(world, {**world.settled_proof(), "status": "lost"}, "unknown status 'lost'")


def test_a_delivery_entry_whose_salt_was_changed_is_refused(world: World) -> None:
    salt = b64encode(hashlib.sha256(b"other salt").digest())
    proof = tampered(world.settled_proof(), ("delivery", "salt"), salt)
    error = refused(world, proof, "the delivery entry's leaf hash is not that of its event and salt")
    assert error.index == world.a_at


def test_a_delivery_at_another_index_is_refused(world: World) -> None:
    proof = {**world.settled_proof(), "delivery_index": world.b_at}
    refused(
        world,
        proof,
        f"the delivery entry is entry {world.a_at} \\(shown as {world.a_at}\\), not {world.b_at}",
    )


def test_a_delivery_not_in_the_checkpoint_is_refused(world: World) -> None:
    def forged(index: int) -> Sequence[bytes]:
        path = list(world.store.inclusion_proof(TRACK, index, world.store.size(TRACK)))
        path[0] = bytes(32)
        return path

    pattern = f"the delivery entry {world.a_at} is not in the checkpoint"
    refused(world, world.settled_proof(), pattern, inclusion=forged)
    checkpoint = world.checkpoint()
    before = Checkpoint(checkpoint.origin, world.a_at, checkpoint.root)  # ends just before the delivery
    refused(world, world.settled_proof(), f"entry {world.a_at} is beyond the checkpoint", checkpoint=before)


def test_another_messages_delivery_is_refused(world: World) -> None:
    proof = {**world.settled_proof(), "delivery_index": world.b_at, "delivery": world.entry(world.b_at)}
    refused(world, proof, f"entry {world.b_at} does not deliver {world.a} to iran")


def test_a_delivery_to_another_party_is_refused(world: World) -> None:
    proof = {**world.pending_proof(), "party": "usa"}
    refused(world, proof, f"entry {world.b_at} does not deliver {world.b} to usa", message_id=world.b)


def test_an_entry_that_is_no_delivery_is_refused(world: World) -> None:
    at = world.submitted_b
    proof = {**world.pending_proof(), "delivery_index": at, "delivery": world.entry(at)}
    refused(world, proof, f"entry {at} is a message.submitted, not a delivery", message_id=world.b)
    proof = {**world.pending_proof(), "delivery_index": 0, "delivery": world.entry(0)}
    refused(world, proof, "entry 0 is not a track event", message_id=world.b)  # the service's key


def test_a_reframed_message_is_delivered_by_its_reframing(world: World) -> None:
    proof = {**world.pending_proof(), "delivery_index": world.r_at, "delivery": world.entry(world.r_at)}
    assert world.verify(proof, message_id=world.r).delivery_index == world.r_at
    refused(world, proof, f"entry {world.r_at} does not deliver {world.a} to iran")  # not the original


def test_an_entry_of_another_track_is_refused(world: World, tmp_path: Path) -> None:
    other = World(tmp_path / "other.sqlite3", track="oslo")  # the same script: the same indexes
    proof = {**world.settled_proof(), "delivery": other.entry(world.a_at)}
    error = refused(world, proof, "the delivery entry is of track 'oslo'")
    assert error.index == world.a_at


def test_a_pending_proof_carrying_a_receipt_is_refused(world: World) -> None:
    proof = {**world.pending_proof(), "log_index": world.receipt_at}
    refused(world, proof, "a pending delivery carries a receipt", message_id=world.b)


# --- the receipt ------------------------------------------------------------------------------------


def test_an_entry_that_is_no_receipt_is_refused(world: World) -> None:
    proof = {**world.settled_proof(), "log_index": world.b_at, "entry": world.entry(world.b_at)}
    error = refused(world, proof, f"entry {world.b_at} is not a receipt.recorded track event")
    assert error.index == world.b_at


def test_a_receipt_signed_by_someone_else_is_refused(world: World) -> None:
    proof = {**world.settled_proof(), "signer": signer_json(IRAN_DELEGATE)}
    refused(world, proof, "the receipt is signed by iran/principal, not by iran/delegate of iran")
    proof = {**world.settled_proof(), "party": "usa", "delivery": world.entry(world.a_at)}
    refused(world, proof, "does not deliver")  # usa is not even the recipient


def test_a_key_that_is_not_the_receipts_is_refused(world: World) -> None:
    other = {**signer_json(IRAN_DELEGATE), "member": IRAN.name}
    refused(world, {**world.settled_proof(), "signer": other}, "is not the key the receipt names")
    mislabelled = {**signer_json(IRAN), "key_id": IRAN_DELEGATE.signing.key_id}
    refused(world, {**world.settled_proof(), "signer": mislabelled}, "is not the key the receipt names")


def test_a_receipt_for_other_messages_is_refused(world: World) -> None:
    proof = {**world.settled_proof(), "item": {"message_id": world.b, "log_index": world.b_at}}
    proof = {**proof, "delivery_index": world.b_at, "delivery": world.entry(world.b_at)}
    refused(
        world, proof, f"the receipt's items do not hold \\[{world.b}, {world.b_at}\\]", message_id=world.b
    )


def test_an_item_that_is_not_the_proven_one_is_refused(world: World) -> None:
    proof = tampered(world.settled_proof(), ("item", "log_index"), world.b_at)
    refused(world, proof, "the proof's item .* is not")


def test_a_malformed_proof_is_refused(world: World) -> None:
    proof = {k: v for k, v in world.settled_proof().items() if k != "signer"}
    refused(world, proof, "malformed proof")
    refused(world, {**world.settled_proof(), "log_index": "7"}, "expected a log index")


# --- receipts a dishonest service could log (valid entries, invalid receipts) --------------------------


def forged_receipt(
    world: World, command: SignedCommand, event_changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Log ``command`` as a receipt.recorded entry and return a proof for message A pointing at it."""
    event = {
        "type": "receipt.recorded", "by": command.member, "at": "2026-01-01T00:00:00.000000Z",
        "command_digest": command.digest.hex(), "idempotency_key": None,
        "items": [[world.a, world.a_at]], "receipt_digest": receipt_digest([(world.a, world.a_at)]).hex(),
        **(event_changes or {}),
    }  # fmt: skip
    at = world.append("receipt.recorded", {"command": command.to_dict(), "event": event})
    return {**world.settled_proof(), "log_index": at, "entry": world.entry(at)}


def test_a_receipt_whose_signature_does_not_verify_is_refused(world: World) -> None:
    genuine = world.signed(IRAN, "record_receipt", receipt_json((world.a, world.a_at)))
    forged = SignedCommand(genuine.payload, IRAN_DELEGATE.signing.sign(genuine.canonical))
    error = refused(world, forged_receipt(world, forged), "does not verify under")
    assert error.index == world.store.size(TRACK) - 1


def test_a_receipt_whose_digest_is_not_its_items_is_refused(world: World) -> None:
    body = {"items": [[world.a, world.a_at]], "receipt_digest": "00" * 32}
    command = world.signed(IRAN, "record_receipt", body)
    refused(world, forged_receipt(world, command), "the receipt_digest is not SHA-256 of the canonical JSON")


def test_a_command_that_is_no_receipt_is_refused(world: World) -> None:
    command = world.signed(IRAN, "submit_message", message_body("statement", {"text": "not a receipt"}))
    refused(
        world,
        forged_receipt(world, command),
        "embeds a submit_message for track 'doha', not a record_receipt",
    )


def test_an_entry_that_does_not_record_its_command_is_refused(world: World) -> None:
    command = world.signed(IRAN, "record_receipt", receipt_json((world.a, world.a_at)))
    for changes in (
        {"command_digest": "00" * 32},
        {"items": [[world.b, world.b_at]]},
        {"by": IRAN_DELEGATE.name},
    ):
        refused(world, forged_receipt(world, command, changes), "does not record the command it embeds")


def test_the_leaf_is_the_one_the_store_holds(world: World) -> None:
    # the fixture's rendering is the store's own: a sanity check of the test itself
    entry = world.entry(world.receipt_at)
    decoded = LogEntry.from_dict({"signed": entry["signed"], "salt": entry["salt"]})
    assert decoded.leaf_hash.hex() == entry["leaf_hash"]
