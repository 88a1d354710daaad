"""Batch-signed commands (ADR-0051), by property: each command of a random batch verifies alone;
changing any byte of its wire form (payload, proof, signature) makes it fail."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import BackchannelError
from backchannel.log.canonical import canonicalize, loads_strict
from backchannel.log.signing import SigningKey
from backchannel.protocol.wire import SignedCommand, command_payload, sign_batch

SETTINGS = settings(max_examples=40, deadline=None)
KEY = SigningKey.from_seed(b"\x31" * 32)
AT = datetime(2026, 12, 1, tzinfo=UTC)

bodies = st.dictionaries(
    st.text(alphabet="abcdefgh", min_size=1, max_size=4),
    st.one_of(st.integers(-1000, 1000), st.text(max_size=8), st.booleans(), st.none()),
    max_size=3,
)


def batch_of(body_list: list[dict[str, object]]) -> list[SignedCommand]:
    payloads = [
        command_payload(
            KEY.key_id, track="t1", command="submit_message", member="usa/alice", body=dict(body),  # type: ignore[arg-type]
            issued_at=AT, nonce=f"nonce-{i:06d}",
        )
        for i, body in enumerate(body_list)
    ]  # fmt: skip
    return sign_batch(KEY, payloads)


@SETTINGS
@given(st.lists(bodies, min_size=1, max_size=70))
def test_every_command_of_a_random_batch_verifies_alone(body_list: list[dict[str, object]]) -> None:
    signed = batch_of(body_list)
    assert len({c.signature for c in signed}) == 1
    for command in signed:
        alone = SignedCommand.from_dict(loads_strict(canonicalize(command.to_dict())))  # over the wire
        alone.verify(KEY.verifying_key)
        assert alone == command
        assert command.wire_bytes() == canonicalize(command.to_dict())  # the splice the log entry uses


@SETTINGS
@given(st.lists(bodies, min_size=1, max_size=20), st.data())
def test_tampering_any_byte_of_a_command_fails(
    body_list: list[dict[str, object]], data: st.DataObject
) -> None:
    signed = batch_of(body_list)
    command = signed[data.draw(st.integers(0, len(signed) - 1), label="command")]
    wire = bytearray(canonicalize(command.to_dict()))
    position = data.draw(st.integers(0, len(wire) - 1), label="byte")
    wire[position] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        tampered = SignedCommand.from_dict(loads_strict(bytes(wire)))
        if tampered == command and tampered.batch == command.batch:
            return  # a change the canonical form erases (never seen: canonical bytes are unique)
        tampered.verify(KEY.verifying_key)
    except (BackchannelError, UnicodeDecodeError):
        return
    raise AssertionError(f"byte {position} changed and the command still verifies: {bytes(wire)!r}")
