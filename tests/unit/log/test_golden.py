"""Golden vectors: the signed bytes of a fixed log never change by accident."""

import json
from pathlib import Path

import pytest

from backchannel.log.canonical import parse_canonical
from backchannel.log.records import LogEntry, SignedEvent
from backchannel.log.signing import VerifyingKey, b64decode
from backchannel.service.export import verify_export
from backchannel.testing.vectors import GOLDEN_FILES, build_golden

GOLDEN = Path(__file__).parents[2] / "vectors" / "golden"


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden_bytes_unchanged(name: str) -> None:
    built = build_golden()[name]
    committed = (GOLDEN / name).read_bytes()
    assert built == committed, f"{name} changed: run tests/vectors/regenerate.py only if intended"


def test_golden_events_verify_from_their_committed_bytes() -> None:
    keys = json.loads((GOLDEN / "keys.json").read_text())
    events = json.loads((GOLDEN / "events.json").read_text())
    for item in events:
        signed = SignedEvent.from_dict(parse_canonical(item["signed_bytes"].encode()))
        author = signed.event.author
        VerifyingKey.from_text(keys["members"][author]["public"]).verify(
            b64decode(item["signature"], field="signature"), item["event_bytes"].encode()
        )
        entry = LogEntry(signed, b64decode(item["salt"], field="salt"))
        assert entry.leaf_hash.hex() == item["leaf_hash"]


def test_golden_export_verifies_against_pinned_key() -> None:
    keys = json.loads((GOLDEN / "keys.json").read_text())
    verified = verify_export(GOLDEN / "export.jsonl", keys["log"]["vkey"])
    assert verified.pinned
    assert verified.report.size == 6
    assert verified.report.checkpoints == 3
