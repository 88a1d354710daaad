"""Golden test vectors: a small signed log built from fixed seeds, clock and salts.

:func:`build_golden` returns the vector files as bytes; ``tests/vectors/regenerate.py``
writes them under ``tests/vectors/golden/`` and a test fails if the committed
bytes ever differ (python-tuf's ``generate_md.py`` pattern). Ed25519 signatures
are deterministic, so fixed seeds give fixed bytes.

The seeds here are public test keys: never use them for anything real.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import LogEntry
from backchannel.log.signing import SigningKey, b64encode
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.export import export_track
from backchannel.service.log import Draft, LogWriter
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.salts import UnsafeDeterministicSalts

__all__ = ["GOLDEN_FILES", "GOLDEN_LOG_NAME", "GOLDEN_TRACK", "build_golden", "golden_seed"]

GOLDEN_TRACK = "golden"
GOLDEN_LOG_NAME = "vectors.backchannel.test"
GOLDEN_FILES = ("keys.json", "events.json", "checkpoints.txt", "export.jsonl")
_MEMBERS = ("qatar/mediator", "usa/principal", "iran/principal")


def golden_seed(label: str) -> bytes:
    """The fixed 32-byte Ed25519 seed for a label (ASCII, zero-padded)."""
    return label.encode("ascii").ljust(32, b"\x00")[:32]


def _entries(keys: dict[str, SigningKey]) -> list[list[Draft]]:
    def register(member: str) -> Draft:
        body: dict[str, JSONValue] = {"member": member, "ed25519": keys[member].verifying_key.to_text()}
        return Draft(KEY_REGISTERED, member, body, keys[member])

    def say(member: str, kind: str, body: dict[str, JSONValue]) -> Draft:
        return Draft(kind, member, body, keys[member])

    return [
        [register(m) for m in _MEMBERS],
        [say("qatar/mediator", "track.opened", {"title": "golden vectors", "venue": "Doha"})],
        [
            say(
                "usa/principal",
                "proposal.submitted",
                {"enrichment_cap_pct": 3.67, "note": "caf\u00e9 \u20ac"},
            ),
            say("iran/principal", "proposal.submitted", {"enrichment_cap_pct": 20, "list": [1, True, None]}),
        ],
    ]


def _vector(entry: LogEntry) -> JSONValue:
    return {
        "seq": entry.seq,
        "event_bytes": entry.signed.event.to_bytes().decode("utf-8"),
        "key_id": entry.signed.key_id,
        "signature": b64encode(entry.signed.signature),
        "signed_bytes": entry.signed.to_bytes().decode("utf-8"),
        "salt": b64encode(entry.salt),
        "commitment": entry.commitment.hex(),
        "leaf_hash": entry.leaf_hash.hex(),
    }


def build_golden() -> dict[str, bytes]:
    """Build every golden vector file in memory.

    Returns:
        File name -> exact bytes, for every name in :data:`GOLDEN_FILES`.
    """
    keys = {m: SigningKey.from_seed(golden_seed(m)) for m in _MEMBERS}
    log_key = SigningKey.from_seed(golden_seed("log"))
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC), autojump=timedelta(milliseconds=1500))
    store = MemoryEventStore()
    writer = LogWriter(
        store, NoteSigner(GOLDEN_LOG_NAME, log_key), clock=clock, salts=UnsafeDeterministicSalts()
    )
    writer.open_track(GOLDEN_TRACK)
    notes: list[str] = []
    events: list[JSONValue] = []
    for batch in _entries(keys):
        result = writer.append(GOLDEN_TRACK, batch)
        notes.append(result.checkpoint.to_text())
        events.extend(_vector(entry) for entry in result.entries)
    key_doc: dict[str, JSONValue] = {
        "warning": "public test keys: never use them for anything real",
        "log": {"seed_hex": golden_seed("log").hex(), "vkey": writer.log_key},
        "members": {
            m: {"seed_hex": golden_seed(m).hex(), "key_id": k.key_id, "public": k.verifying_key.to_text()}
            for m, k in keys.items()
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.jsonl"
        export_track(store, GOLDEN_TRACK, path)
        export = path.read_bytes()
    return {
        "keys.json": (json.dumps(key_doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        "events.json": (json.dumps(events, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        "checkpoints.txt": "\n".join(notes).encode("utf-8"),
        "export.jsonl": export,
    }
