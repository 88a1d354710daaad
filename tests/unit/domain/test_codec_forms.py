"""The codec layer reproduces, byte for byte, the JSON forms the hand-written codecs produced.

See ``tests/vectors/forms/README.md`` for where ``domain.jsonl`` comes from.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backchannel.domain import event_from_dict
from backchannel.domain.features.coordination import COORDINATION
from backchannel.log.canonical import canonicalize, loads_strict
from backchannel.protocol._wire_codec import command_body, read_body
from backchannel.protocol.wire import COMMAND_NAMES

FORMS = Path(__file__).resolve().parents[2] / "vectors" / "forms" / "domain.jsonl"
LINES = FORMS.read_bytes().splitlines()
ENVELOPE = {
    "track": "talks",
    "member": "med/chair",
    "key_id": "ed25519:" + "0" * 32,
    "issued_at": datetime(2026, 3, 1, tzinfo=UTC),
    "digest": b"\x01" * 32,
    "idempotency_key": None,
}
ADDED_AFTER = {"declare_actor_positions", "record_forecast", "share_forecast"}
"""Commands added after the forms were pinned: their wire round trips are in test_forecasts_feature.py."""


def test_every_event_type_and_command_is_pinned() -> None:
    kinds = [loads_strict(line) for line in LINES]
    events = {k["event"]["type"] for k in kinds if "event" in k}
    commands = {k["command"] for k in kinds if "command" in k}
    assert len(events) == 36
    # commands registered after the codec layer pin their forms in their own tests
    later = {rule.name for rule in COORDINATION.commands}  # test_coordination_log.py
    assert commands == set(COMMAND_NAMES) - {"record_receipt"} - ADDED_AFTER - later


@pytest.mark.parametrize("line", LINES, ids=lambda line: line[:48].decode())
def test_decoding_and_encoding_again_gives_the_same_bytes(line: bytes) -> None:
    form = loads_strict(line)
    if "event" in form:
        again: dict[str, object] = {"event": event_from_dict(form["event"]).to_dict()}
    else:
        command = read_body(COMMAND_NAMES[form["command"]], form["body"], ENVELOPE)
        again = {"command": form["command"], "body": command_body(command)}
    assert canonicalize(again) == line
