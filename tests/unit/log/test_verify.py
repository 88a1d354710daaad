"""The streaming verifier, step by step (steps numbered as in log/verify.py)."""

from dataclasses import replace

import pytest

from backchannel.errors import VerificationError
from backchannel.log import merkle
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import Checkpoint, NoteSigner, SignedCheckpoint
from backchannel.log.records import Event, LogEntry, SignedEvent
from backchannel.log.signing import SigningKey
from backchannel.log.verify import KEY_REGISTERED, LogVerifier, check_signatures, signature_error
from backchannel.testing.salts import UnsafeDeterministicSalts

TRACK = "t1"
ORIGIN = "log.test/t1"
LOG = NoteSigner("log.test", SigningKey.from_seed(b"\x01" * 32))
ALICE = SigningKey.from_seed(b"\x02" * 32)
BOB = SigningKey.from_seed(b"\x03" * 32)
TS = "2026-11-23T10:00:00.000000Z"


class Builder:
    """Builds entries by hand, so each test can break exactly one thing."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.salts = UnsafeDeterministicSalts()

    @property
    def prev(self) -> bytes | None:
        return self.entries[-1].leaf_hash if self.entries else None

    def add(
        self, kind: str, author: str, body: dict[str, JSONValue], key: SigningKey, **overrides: object
    ) -> LogEntry:
        fields: dict[str, object] = {
            "track": TRACK,
            "seq": len(self.entries),
            "type": kind,
            "author": author,
            "created_at": TS,
            "body": body,
            "prev": self.prev,
            **overrides,
        }
        entry = LogEntry(SignedEvent.create(Event(**fields), key), self.salts(32))  # type: ignore[arg-type]
        self.entries.append(entry)
        return entry

    def register(self, author: str, key: SigningKey) -> LogEntry:
        return self.add(
            KEY_REGISTERED, author, {"member": author, "ed25519": key.verifying_key.to_text()}, key
        )

    def checkpoint(
        self, size: int | None = None, origin: str = ORIGIN, signer: NoteSigner = LOG
    ) -> SignedCheckpoint:
        size = len(self.entries) if size is None else size
        leaves = [e.leaf_hash for e in self.entries[:size]]
        return signer.sign(Checkpoint(origin, size, merkle.root(leaves)))


def verifier() -> LogVerifier:
    return LogVerifier(TRACK, ORIGIN, LOG.verifier)


def good_log() -> Builder:
    b = Builder()
    b.register("usa/alice", ALICE)
    b.register("iran/bob", BOB)
    b.add("statement.made", "usa/alice", {"text": "hello"}, ALICE)
    b.add("statement.made", "iran/bob", {"text": "salam"}, BOB)
    return b


def test_a_good_log_verifies_with_checkpoints_along_the_way() -> None:
    b = good_log()
    v = verifier()
    v.add_entry(b.entries[0])
    v.add_entry(b.entries[1])
    v.add_checkpoint(b.checkpoint(2))
    nodes = v.add_entry(b.entries[2], stored_leaf=b.entries[2].leaf_hash)
    assert nodes[0] == ((0, 2), b.entries[2].leaf_hash)
    v.add_entry(b.entries[3])
    v.add_checkpoint(b.checkpoint())
    report = v.finish()
    assert report.size == 4
    assert report.checkpoints == 2
    assert report.root == merkle.root([e.leaf_hash for e in b.entries])
    assert report.members == {"iran/bob": (BOB.key_id,), "usa/alice": (ALICE.key_id,)}
    assert report.latest == b.checkpoint()


def test_empty_log_verifies() -> None:
    report = verifier().finish()
    assert report.size == 0
    assert report.latest is None


def run(entries: list[LogEntry], *, final_checkpoint: SignedCheckpoint | None = None) -> None:
    v = verifier()
    for entry in entries:
        v.add_entry(entry)
    if final_checkpoint is not None:
        v.add_checkpoint(final_checkpoint)
    v.finish()


def test_step1_wrong_seq_and_wrong_track() -> None:
    b = good_log()
    with pytest.raises(VerificationError, match="claims seq 3") as info:
        run([b.entries[0], b.entries[1], b.entries[3]])
    assert info.value.index == 2
    other = Builder()
    other.add(
        KEY_REGISTERED,
        "usa/alice",
        {"member": "usa/alice", "ed25519": ALICE.verifying_key.to_text()},
        ALICE,
        track="t2",
    )
    with pytest.raises(VerificationError, match="belongs to track 't2'"):
        run(other.entries)


def test_step2_broken_hash_chain() -> None:
    b = Builder()
    b.register("usa/alice", ALICE)
    b.add("statement.made", "usa/alice", {"text": "x"}, ALICE, prev=b"\x00" * 32)
    with pytest.raises(VerificationError, match="prev does not match") as info:
        run(b.entries)
    assert info.value.index == 1


def test_step3_unregistered_key_wrong_owner_and_bad_signature() -> None:
    b = Builder()
    b.add("statement.made", "usa/alice", {"text": "x"}, ALICE)
    with pytest.raises(VerificationError, match="unregistered key"):
        run(b.entries)

    b = Builder()
    b.register("usa/alice", ALICE)
    b.add("statement.made", "iran/bob", {"text": "impersonation"}, ALICE)
    with pytest.raises(VerificationError, match="belongs to usa/alice, not to the author iran/bob") as info:
        run(b.entries)
    assert info.value.index == 1

    b = good_log()
    entry = b.entries[2]
    forged_event = replace(entry.signed.event, body={"text": "altered"})
    forged = LogEntry(SignedEvent(forged_event, entry.signed.key_id, entry.signed.signature), entry.salt)
    with pytest.raises(VerificationError, match="author signature does not verify") as info:
        run([*b.entries[:2], forged])
    assert info.value.index == 2


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ({"member": "iran/bob", "ed25519": ALICE.verifying_key.to_text()}, ALICE, "must name its author"),
        ({"member": "usa/alice"}, ALICE, "carry an ed25519 key"),
        ({"member": "usa/alice", "ed25519": "AAAA"}, ALICE, "32 bytes"),
        (
            {"member": "usa/alice", "ed25519": BOB.verifying_key.to_text()},
            ALICE,
            "signed by the key it registers",
        ),
    ],
)
def test_step3_malformed_registrations(body: dict[str, JSONValue], key: SigningKey, message: str) -> None:
    b = Builder()
    b.add(KEY_REGISTERED, "usa/alice", body, key)
    with pytest.raises(VerificationError, match=message) as info:
        run(b.entries)
    assert info.value.index == 0


def test_step3_a_key_cannot_be_registered_to_two_members() -> None:
    b = Builder()
    b.register("usa/alice", ALICE)
    b.add(KEY_REGISTERED, "iran/bob", {"member": "iran/bob", "ed25519": ALICE.verifying_key.to_text()}, ALICE)
    with pytest.raises(VerificationError, match="already registered to usa/alice"):
        run(b.entries)


def test_step3_re_registering_the_same_key_is_allowed() -> None:
    b = Builder()
    b.register("usa/alice", ALICE)
    b.register("usa/alice", ALICE)
    run(b.entries, final_checkpoint=b.checkpoint())


def test_step4_stored_leaf_mismatch() -> None:
    b = good_log()
    v = verifier()
    with pytest.raises(VerificationError, match="stored leaf hash does not match") as info:
        v.add_entry(b.entries[0], stored_leaf=b"\x00" * 32)
    assert info.value.index == 0


def test_step6_checkpoint_signature_and_origin() -> None:
    b = good_log()
    impostor = NoteSigner("log.test", SigningKey.from_seed(b"\x09" * 32))
    with pytest.raises(VerificationError, match="no signature by log.test"):
        run(b.entries, final_checkpoint=b.checkpoint(signer=impostor))
    with pytest.raises(VerificationError, match="names origin 'elsewhere'"):
        run(b.entries, final_checkpoint=b.checkpoint(origin="elsewhere"))


def test_step7_checkpoint_out_of_place_or_wrong_root() -> None:
    b = good_log()
    with pytest.raises(VerificationError, match="out of place: 4 entries verified so far"):
        run(b.entries, final_checkpoint=b.checkpoint(3))
    wrong = LOG.sign(Checkpoint(ORIGIN, 4, b"\x00" * 32))
    with pytest.raises(VerificationError, match="signed root does not match") as info:
        run(b.entries, final_checkpoint=wrong)
    assert info.value.index == 3


def test_step8_unsigned_tail_is_refused() -> None:
    b = good_log()
    v = verifier()
    for entry in b.entries[:2]:
        v.add_entry(entry)
    v.add_checkpoint(b.checkpoint(2))
    for entry in b.entries[2:]:
        v.add_entry(entry)
    with pytest.raises(VerificationError, match="entries 2..3 are not covered") as info:
        v.finish()
    assert info.value.index == 2
    assert v.size == 4


def test_deferred_signature_checks_are_run_by_the_caller() -> None:
    b = good_log()
    forged_event = replace(b.entries[2].signed.event, body={"text": "altered"})
    signed = b.entries[2].signed
    b.entries[2] = LogEntry(SignedEvent(forged_event, signed.key_id, signed.signature), b.entries[2].salt)
    v = LogVerifier(TRACK, ORIGIN, LOG.verifier, defer_signatures=True)
    for entry in b.entries[:3]:
        v.add_entry(entry)
    assert v.pending_signature_checks == 3
    with pytest.raises(RuntimeError, match="deferred signature checks not taken"):
        v.finish()
    checks = v.take_signature_checks()
    assert v.pending_signature_checks == 0
    assert [c.index for c in checks] == [0, 1, 2]
    failed = check_signatures(checks)
    assert failed is not None
    assert failed.index == 2
    assert check_signatures(checks[:2]) is None
    error = signature_error(failed)
    assert error.index == 2
    assert "author signature does not verify" in str(error)
