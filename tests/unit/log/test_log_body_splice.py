"""An event's body given as canonical bytes is spliced in: the event's bytes are unchanged (issue #13)."""

from typing import Any

import pytest

from backchannel.log.canonical import canonicalize
from backchannel.log.records import Event, LogEntry, SignedEvent
from backchannel.log.signing import SigningKey

BODIES: list[dict[str, Any]] = [
    {},
    {
        "command": {"payload": {"body": {"text": "x" * 100}, "nonce": "n"}, "sig": "AAAA+/=="},
        "event": {"a": 1},
    },
    {"body": {}, "x": 0.5, "\u00e9t\u00e9": [1, "two", None, True], "quote": 'say "body":{}'},
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize(("seq", "prev"), [(0, None), (7, b"\x01" * 32)])
def test_spliced_body_bytes_give_the_same_canonical_event(
    body: dict[str, Any], seq: int, prev: bytes | None
) -> None:
    fields: dict[str, Any] = {
        "track": "t", "seq": seq, "type": "message.submitted", "author": "qatar/service",
        "created_at": "2026-01-31T12:00:00.000000Z", "body": body, "prev": prev,
    }  # fmt: skip
    plain = Event(**fields)
    spliced = Event(**fields, body_bytes=canonicalize(body))
    assert spliced.to_bytes() == plain.to_bytes() == canonicalize(plain.to_dict())
    assert spliced == plain  # the bytes given are not part of the value


def test_a_leaf_hash_is_computed_once_and_is_the_leaf_of_the_commitment() -> None:
    from backchannel.log import merkle

    event = Event("t", 0, "track.opened", "qatar/service", "2026-01-31T12:00:00.000000Z", {}, None)
    entry = LogEntry(SignedEvent.create(event, SigningKey.from_seed(b"\x05" * 32)), b"\x02" * 32)
    first = entry.leaf_hash
    assert first is entry.leaf_hash
    assert first == merkle.leaf_hash(entry.commitment)


class _Text(str):
    """A str subclass: the envelope takes the reference encoder's path."""

    __slots__ = ()


@pytest.mark.parametrize("name", ["track", "type", "author", "created_at"])
def test_a_str_subclass_in_the_envelope_gives_the_same_bytes(name: str) -> None:
    fields: dict[str, Any] = {
        "track": "t", "seq": 3, "type": "message.submitted", "author": "qatar/service",
        "created_at": "2026-01-31T12:00:00.000000Z", "body": {"a": [1]}, "prev": b"\x02" * 32,
    }  # fmt: skip
    plain = Event(**fields)
    fields[name] = _Text(fields[name])
    spliced = Event(**fields, body_bytes=canonicalize({"a": [1]}))
    assert spliced.to_bytes() == plain.to_bytes()


def test_a_seq_beyond_what_json_carries_is_refused_with_spliced_bytes_too() -> None:
    from backchannel.errors import EncodingError

    event = Event(
        "t", 2**53, "message.submitted", "qatar/service", "2026-01-31T12:00:00.000000Z", {}, b"\x02" * 32,
        body_bytes=b"{}",
    )  # fmt: skip
    with pytest.raises(EncodingError, match="integer"):
        event.to_bytes()
