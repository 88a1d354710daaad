"""Golden vectors of batch-signed commands (ADR-0051), from a fixed seed and clock.

:func:`build_batch_vectors` returns the vector file as bytes;
``tests/vectors/regenerate.py`` writes it to ``tests/vectors/batch/batch.json``
and a test fails if the committed bytes ever differ. Ed25519 signatures are
deterministic, so a fixed seed gives fixed bytes. The file pins each step:
every payload's canonical bytes and digest, every leaf hash, the root, the
signed message, the signature and each command's wire form with its proof.

The seed is a public test key: never use it for anything real.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from backchannel.log.canonical import JSONValue
from backchannel.log.signing import SigningKey, b64encode
from backchannel.protocol.batch import BATCH_TAG, batch_leaf, batch_message
from backchannel.protocol.wire import command_payload, sign_batch
from backchannel.testing.vectors import golden_seed

__all__ = ["BATCH_VECTOR_FILE", "BATCH_VECTOR_SIZES", "build_batch_vectors"]

BATCH_VECTOR_FILE = "batch.json"
BATCH_VECTOR_SIZES = (1, 2, 3, 5, 8)
"""The batch sizes pinned: one leaf, a perfect tree, and the odd shapes in between."""

_MEMBER = "usa/principal"
_TRACK = "golden"


def _proposal(n: int) -> dict[str, JSONValue]:
    return {
        "kind": "proposal",
        "body": {"values": {"enrichment_cap_pct": n}},
        "priority": "routine",
        "in_reply_to": None,
        "annexes": [],
        "agenda_version": 1,
    }


def _batch(key: SigningKey, size: int) -> JSONValue:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    payloads = [
        command_payload(
            key.key_id,
            track=_TRACK,
            command="submit_message",
            member=_MEMBER,
            body=_proposal(i),
            issued_at=start + timedelta(milliseconds=i),
            nonce=f"golden-{size}-{i:04d}",
            idempotency_key=f"golden-{size}-{i:04d}",
        )
        for i in range(size)
    ]
    signed = sign_batch(key, payloads)
    proof = signed[0].batch
    assert proof is not None
    return {
        "size": size,
        "canonical": [c.canonical.decode("utf-8") for c in signed],
        "digests": [c.digest.hex() for c in signed],
        "leaves": [batch_leaf(c.digest).hex() for c in signed],
        "root": proof.root.hex(),
        "message": batch_message(proof.root, size).hex(),
        "signature": b64encode(proof.signature),
        "commands": [c.to_dict() for c in signed],
    }


def build_batch_vectors() -> bytes:
    """The batch vector file's exact bytes."""
    key = SigningKey.from_seed(golden_seed(_MEMBER))
    doc: dict[str, JSONValue] = {
        "warning": "public test key: never use it for anything real",
        "tag": BATCH_TAG.decode("ascii"),
        "member": _MEMBER,
        "seed_hex": golden_seed(_MEMBER).hex(),
        "key_id": key.key_id,
        "public": key.verifying_key.to_text(),
        "batches": [_batch(key, size) for size in BATCH_VECTOR_SIZES],
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
