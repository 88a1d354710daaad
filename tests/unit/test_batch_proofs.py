"""Batch-signed commands (ADR-0051): the golden vectors, the proof's wire form, every refusal."""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backchannel.domain.errors import SchemaViolationError
from backchannel.errors import EncodingError, VerificationError
from backchannel.log import merkle
from backchannel.log.canonical import canonicalize, parse_canonical
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode
from backchannel.protocol.batch import (
    BATCH_TAG,
    MAX_BATCH_SIZE,
    BatchProof,
    batch_leaf,
    batch_message,
    batch_root,
    prove_batch,
    verify_root,
)
from backchannel.protocol.wire import SignedCommand, command_payload, sign_batch, sign_command
from backchannel.service.batch import check_batch
from backchannel.testing.batch_vectors import BATCH_VECTOR_FILE, BATCH_VECTOR_SIZES, build_batch_vectors

VECTORS = Path(__file__).parents[1] / "vectors" / "batch" / BATCH_VECTOR_FILE
KEY = SigningKey.from_seed(b"\x21" * 32)
OTHER = SigningKey.from_seed(b"\x22" * 32)
AT = datetime(2026, 12, 1, tzinfo=UTC)


def payload(n: int, *, member: str = "usa/alice", key: SigningKey = KEY, track: str = "t1") -> dict[str, Any]:
    return command_payload(
        key.key_id, track=track, command="submit_message", member=member, body={"n": n},
        issued_at=AT, nonce=f"nonce-{n:06d}",
    )  # fmt: skip


def test_the_committed_vectors_are_the_built_bytes() -> None:
    assert VECTORS.read_bytes() == build_batch_vectors(), "run tests/vectors/regenerate.py only if intended"


def test_the_vectors_verify_from_their_committed_bytes_alone() -> None:
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    key = VerifyingKey.from_text(doc["public"])
    assert doc["tag"].encode() == BATCH_TAG
    assert [b["size"] for b in doc["batches"]] == list(BATCH_VECTOR_SIZES)
    for vector in doc["batches"]:
        digests = [hashlib.sha256(c.encode()).digest() for c in vector["canonical"]]
        assert [d.hex() for d in digests] == vector["digests"]
        leaves = [merkle.leaf_hash(d) for d in digests]  # the log's RFC 9162 reference, not the batch code
        assert [leaf.hex() for leaf in leaves] == vector["leaves"]
        root = merkle.root(leaves)
        assert root.hex() == vector["root"]
        message = BATCH_TAG + vector["size"].to_bytes(8, "big") + root
        assert message.hex() == vector["message"]
        key.verify(b64decode(vector["signature"], field="signature"), message)
        for index, wire in enumerate(vector["commands"]):
            assert wire["batch"]["index"] == index
            path = [b64decode(p, field="path") for p in wire["batch"]["path"]]
            assert path == merkle.inclusion_proof(leaves, index)
            SignedCommand.from_dict(wire).verify(key)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100])
def test_proofs_are_the_rfc_paths_and_each_verifies_alone(size: int) -> None:
    digests = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(size)]
    leaves = [batch_leaf(d) for d in digests]
    proofs = prove_batch(KEY, digests)
    assert batch_root(digests) == merkle.root(leaves) == proofs[0].root
    for index, proof in enumerate(proofs):
        assert list(proof.path) == merkle.inclusion_proof(leaves, index)
        assert BatchProof.from_dict(proof.to_dict()) == proof
        proof.verify(digests[index], KEY.verifying_key)
        with pytest.raises(VerificationError, match=r"batch\.path: inclusion rule"):
            proof.verify(digests[(index + 1) % size] if size > 1 else bytes(32), KEY.verifying_key)
        with pytest.raises(VerificationError, match=r"batch\.signature"):
            proof.verify(digests[index], OTHER.verifying_key)


def test_a_batch_signed_command_round_trips_and_is_never_a_single_signature() -> None:
    [signed] = sign_batch(KEY, [payload(1)])
    again = SignedCommand.from_dict(signed.to_dict())
    assert again == signed
    assert again.batch == signed.batch
    again.verify(KEY.verifying_key)
    assert set(signed.to_dict()) == {"payload", "batch"}
    # the same payload signed alone: a different signature over different bytes
    single = sign_command(KEY, track="t1", command="submit_message", member="usa/alice", body={"n": 1},
                          issued_at=AT, nonce="nonce-000001")  # fmt: skip
    assert single.digest == signed.digest
    assert single.signature != signed.signature
    assert not KEY.verifying_key.is_valid(signed.signature, signed.canonical)
    assert not KEY.verifying_key.is_valid(single.signature, batch_message(batch_root([single.digest]), 1))
    with pytest.raises(VerificationError, match="names key"):
        signed.verify(OTHER.verifying_key)


def test_a_verified_root_signature_is_remembered_and_a_bad_one_never() -> None:
    proofs = prove_batch(KEY, [bytes(32), bytes([1]) * 32])
    verify_root(KEY.verifying_key, proofs[0].root, 2, proofs[0].signature)
    verify_root(KEY.verifying_key, proofs[0].root, 2, proofs[0].signature)  # the cache answers
    for _ in range(2):
        with pytest.raises(VerificationError):
            verify_root(
                KEY.verifying_key, proofs[0].root, 3, proofs[0].signature
            )  # another size: another message
    for n in range(4100):  # more roots than the cache holds: the oldest are dropped, none is wrongly kept
        verify_root(KEY.verifying_key, *_signed_root(n))
    verify_root(KEY.verifying_key, proofs[0].root, 2, proofs[0].signature)


def _signed_root(n: int) -> tuple[bytes, int, bytes]:
    root = hashlib.sha256(n.to_bytes(4, "big")).digest()
    return root, 1, KEY.sign(batch_message(root, 1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root": "AA=="}, r"batch\.root: expected"),
        ({"index": 2}, r"batch\.index: expected"),
        ({"index": -1}, r"batch\.index: expected"),
        ({"size": 0}, r"batch\.size: expected"),
        ({"size": MAX_BATCH_SIZE + 1}, r"batch\.size: expected.*1024"),
        ({"size": True}, r"batch\.size: expected"),
        ({"index": "0"}, r"batch\.index, batch\.size: expected integers"),
        ({"path": "x"}, r"batch\.path: expected a list"),
        ({"path": ["AA=="] * 11}, r"batch\.path: expected a list of at most 10"),
        ({"path": [1]}, r"batch\.path\.0: expected base64"),
        ({"path": ["AA=="]}, r"batch\.path\.0"),
        ({"signature": 5}, r"batch\.signature: expected base64"),
        ({"signature": "AA=="}, r"batch\.signature"),
        ({"extra": 1}, r"batch: expected exactly .*unknown \['extra'\]"),
    ],
)
def test_a_malformed_proof_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    [_, signed] = sign_batch(KEY, [payload(1), payload(2)])
    wire = signed.to_dict()
    assert isinstance(wire["batch"], dict)
    with pytest.raises(EncodingError, match=message):
        SignedCommand.from_dict({**wire, "batch": {**wire["batch"], **change}})


def test_other_malformed_batch_forms_are_refused() -> None:
    [signed] = sign_batch(KEY, [payload(1)])
    wire = signed.to_dict()
    with pytest.raises(EncodingError, match=r"batch: expected an object"):
        SignedCommand.from_dict({**wire, "batch": []})
    with pytest.raises(EncodingError, match="unknown"):
        SignedCommand.from_dict({**wire, "sig": "AA=="})  # both a sig and a batch
    assert signed.batch is not None
    with pytest.raises(EncodingError, match="signature is its batch's"):
        SignedCommand(signed.payload, bytes(64), batch=signed.batch)
    with pytest.raises(EncodingError, match=r"batch\.path: expected at most"):
        BatchProof(bytes(32), 0, 1, [bytes(32)], bytes(64))  # type: ignore[arg-type]
    with pytest.raises(EncodingError, match=r"batch\.root: expected a 32-byte hash"):
        BatchProof(b"x", 0, 1, (), bytes(64))
    with pytest.raises(EncodingError, match=r"batch\.signature: expected a 64-byte"):
        BatchProof(bytes(32), 0, 1, (), b"x")
    with pytest.raises(EncodingError, match=r"batch\.path\.0: expected a 32-byte hash"):
        BatchProof(bytes(32), 0, 2, (b"x",), bytes(64))
    with pytest.raises(EncodingError, match="1 to 1024 commands, not 0"):
        prove_batch(KEY, [])
    with pytest.raises(EncodingError, match="digest 1: expected 32 bytes"):
        prove_batch(KEY, [bytes(32), b"short"])
    with pytest.raises(EncodingError, match="at least one"):
        batch_root([])
    with pytest.raises(EncodingError, match=r"payloads\.0: "):
        sign_batch(KEY, [{**payload(1), "body": {"x": float("nan")}}])
    with pytest.raises(EncodingError, match="timezone-aware"):
        command_payload(KEY.key_id, track="t1", command="submit_message", member="usa/alice", body={},
                        issued_at=datetime(2026, 1, 1), nonce="nonce-000001")  # noqa: DTZ001  # fmt: skip


def rules(error: pytest.ExceptionInfo[SchemaViolationError]) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in error.value.violations}


def test_check_batch_names_every_rule_broken() -> None:
    good = sign_batch(KEY, [payload(i) for i in range(3)])
    assert check_batch("t1", good) == [c.batch for c in good]
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", [])
    assert rules(caught) == {("commands", "max_batch")}
    single = sign_command(KEY, track="t1", command="submit_message", member="usa/alice", body={},
                          issued_at=AT, nonce="nonce-999999")  # fmt: skip
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", [good[0], single])
    assert rules(caught) == {("commands.1.batch", "batch_signed")}
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t2", [good[1], good[0], good[2]])
    assert rules(caught) == {
        ("commands.0.batch.index", "batch_order"),
        ("commands.1.batch.index", "batch_order"),
        *((f"commands.{i}.payload.track", "one_track") for i in range(3)),
    }
    others = sign_batch(OTHER, [payload(i, member="usa/bob", key=OTHER, track="t1") for i in range(3)])
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", [good[0], others[1], good[2]])
    assert rules(caught) == {
        ("commands.1.batch.root", "one_batch"),
        ("commands.1.batch.signature", "one_batch"),
        ("commands.1.payload.member", "one_author"),
        ("commands.1.payload.key_id", "one_key"),
    }
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", good[:2])
    assert rules(caught) == {("commands", "complete_batch")}
    shorter = sign_batch(KEY, [payload(i) for i in range(2)])
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", [*good[:2], shorter[1]])
    assert ("commands.2.batch.size", "one_batch") in rules(caught)
    repeated = sign_batch(KEY, [payload(1), payload(1)])
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", repeated)
    assert rules(caught) == {("commands.1", "unique")}
    opening = sign_batch(KEY, [{**payload(1), "command": "open_track"}])
    with pytest.raises(SchemaViolationError) as caught:
        check_batch("t1", opening)
    assert rules(caught) == {("commands.0.payload.command", "not_batchable")}


def test_wire_bytes_are_the_canonical_bytes_of_the_wire_form_in_both_forms() -> None:
    single = sign_command(KEY, track="t1", command="submit_message", member="usa/alice", body={"n": 1},
                          issued_at=AT, nonce="nonce-000001")  # fmt: skip
    for signed in (single, *sign_batch(KEY, [payload(i) for i in range(5)])):
        assert signed.wire_bytes() == canonicalize(signed.to_dict())
        assert signed.wire_dict() == signed.to_dict()
        assert SignedCommand.from_dict(parse_canonical(signed.wire_bytes())) == signed


@pytest.mark.parametrize("size", [1, 2, 5])
def test_a_proof_s_bytes_are_the_canonical_bytes_of_its_json_form(size: int) -> None:
    key = SigningKey.from_seed(b"\x09" * 32)
    payloads = [
        command_payload(
            key.key_id,
            track="t",
            command="submit_message",
            member="usa/principal",
            body={"i": i},
            issued_at=datetime(2026, 1, 31, tzinfo=UTC),
            nonce=f"nonce-{i:04d}",
            idempotency_key=None,
        )
        for i in range(size)
    ]
    for signed in sign_batch(key, payloads):
        assert signed.batch is not None
        assert signed.batch.to_bytes() == canonicalize(signed.batch.to_dict())
