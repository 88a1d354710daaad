import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from backchannel.errors import EncodingError, VerificationError
from backchannel.log import merkle
from backchannel.log.canonical import canonicalize
from backchannel.log.records import Event, LogEntry, SignedEvent, format_timestamp, parse_timestamp
from backchannel.log.signing import SigningKey

KEY = SigningKey.from_seed(b"\x11" * 32)
OTHER = SigningKey.from_seed(b"\x12" * 32)
TS = "2026-11-23T10:00:00.000000Z"


def event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "track": "us-iran-nuclear",
        "seq": 1,
        "type": "proposal.submitted",
        "author": "usa/alice",
        "created_at": TS,
        "body": {"enrichment_cap_pct": 3.67, "note": "caf\u00e9"},
        "prev": b"\x01" * 32,
        **overrides,
    }
    return Event(**fields)  # type: ignore[arg-type]


def test_event_dict_and_bytes_are_canonical_and_stable() -> None:
    ev = event()
    raw = ev.to_bytes()
    assert raw == canonicalize(ev.to_dict())
    assert Event.from_dict(json.loads(raw)) == ev
    assert Event.from_dict(json.loads(raw)).to_bytes() == raw
    assert raw.startswith(b'{"author":"usa/alice","body":{"enrichment_cap_pct":3.67,"note":"caf\xc3\xa9"}')


def test_signed_event_round_trip_is_byte_stable() -> None:
    signed = SignedEvent.create(event(), KEY)
    data = signed.to_bytes()
    again = SignedEvent.from_bytes(data)
    assert again == signed
    assert again.to_bytes() == data
    signed.verify(KEY.verifying_key)
    # whitespace on the wire does not change what is verified
    pretty = json.dumps(json.loads(data), indent=2).encode()
    SignedEvent.from_bytes(pretty).verify(KEY.verifying_key)


def test_signed_event_refuses_wrong_key_and_tampering() -> None:
    signed = SignedEvent.create(event(), KEY)
    with pytest.raises(VerificationError, match="names key"):
        signed.verify(OTHER.verifying_key)
    forged = SignedEvent(event(body={"enrichment_cap_pct": 20}), signed.key_id, signed.signature)
    with pytest.raises(VerificationError, match="does not verify") as info:
        forged.verify(KEY.verifying_key)
    assert info.value.index == 1


def test_log_entry_commitment_and_leaf() -> None:
    entry = LogEntry(SignedEvent.create(event(), KEY), b"\x05" * 32)
    expected = hashlib.sha256(b"\x05" * 32 + entry.signed.to_bytes()).digest()
    assert entry.commitment == expected
    assert entry.leaf_hash == merkle.leaf_hash(expected)
    assert entry.seq == 1
    assert LogEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    other_salt = LogEntry(entry.signed, b"\x06" * 32)
    assert other_salt.leaf_hash != entry.leaf_hash


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"track": "Bad Track"}, "track"),
        ({"track": 5}, "track"),
        ({"seq": -1}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": 1.0}, "seq"),
        ({"type": "Proposal"}, "type"),
        ({"type": "a" + ".b" * 40}, "type"),
        ({"author": "usa/alice/extra"}, "author"),
        ({"author": "USA"}, "author"),
        ({"created_at": "2026-11-23T10:00:00Z"}, "created_at"),
        ({"created_at": "2026-02-30T10:00:00.000000Z"}, "created_at"),
        ({"body": ["not", "an", "object"]}, "body"),
        ({"prev": None}, "prev"),
        ({"prev": b"short"}, "prev"),
        ({"seq": 0}, "prev"),
    ],
)
def test_event_fields_validated(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(EncodingError, match=field):
        event(**overrides)


def test_seq_zero_without_prev_is_valid() -> None:
    assert event(seq=0, prev=None).to_dict()["prev"] is None


def test_type_length_limit() -> None:
    with pytest.raises(EncodingError, match="longer than 64"):
        event(type="a" * 65)


def _signed_dict() -> dict[str, object]:
    return SignedEvent.create(event(), KEY).to_dict()  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(extra=1), r"unknown field\(s\) \['extra'\]"),
        (lambda d: d.pop("signature"), r"missing field\(s\) \['signature'\]"),
        (lambda d: d["event"].update(v=2), r"event: unknown field\(s\) \['v'\]"),
        (lambda d: d["event"].pop("prev"), r"missing field\(s\) \['prev'\]"),
        (lambda d: d["signature"].update(alg="x"), r"signature: unknown field"),
        (lambda d: d["signature"].update(keyid=7), "keyid: expected a string"),
        (lambda d: d["signature"].update(keyid="rsa:00"), "keyid"),
        (lambda d: d["signature"].update(sig=7), "sig: expected base64"),
        (lambda d: d["signature"].update(sig="AAAA"), "64 bytes"),
        (lambda d: d["signature"].update(sig="not base64!"), "not valid base64"),
        (lambda d: d["event"].update(prev="ZZ" * 32), "prev"),
        (lambda d: d["event"].update(prev=7), "prev: expected a string"),
        (lambda d: d["event"].update(body=[]), "body: expected a JSON object"),
        (lambda d: d["event"].update(seq="1"), "seq: expected an integer"),
        (lambda d: d["event"].update(created_at=12), "created_at"),
        (lambda d: d.update(event=[]), "event: expected a JSON object"),
    ],
)
def test_signed_event_decoding_is_strict(mutate: object, message: str) -> None:
    data = copy.deepcopy(_signed_dict())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(EncodingError, match=message):
        SignedEvent.from_dict(data)  # type: ignore[arg-type]


def test_signed_event_from_bytes_refuses_malformed_json() -> None:
    with pytest.raises(EncodingError, match="malformed JSON"):
        SignedEvent.from_bytes(b'{"event": ')
    with pytest.raises(EncodingError, match="duplicate object key"):
        SignedEvent.from_bytes(b'{"event": {}, "event": {}}')


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"signed": {}, "salt": 5}, "salt: expected base64"),
        ({"signed": {}}, "missing"),
        ([], "expected a JSON object"),
    ],
)
def test_log_entry_decoding_is_strict(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        LogEntry.from_dict(value)  # type: ignore[arg-type]


def test_log_entry_salt_validated() -> None:
    signed = SignedEvent.create(event(), KEY)
    with pytest.raises(EncodingError, match="salt"):
        LogEntry(signed, b"\x00" * 31)
    with pytest.raises(EncodingError, match="32 bytes"):
        LogEntry.from_dict({"signed": signed.to_dict(), "salt": "AAAA"})


def test_body_with_unrepresentable_value_refused_at_encoding() -> None:
    ev = event(body={"x": float("nan")})
    with pytest.raises(EncodingError, match="not representable"):
        ev.to_bytes()


def test_timestamps() -> None:
    moment = datetime(2026, 11, 23, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    text = format_timestamp(moment)
    assert text == "2026-11-23T10:00:00.000005Z"
    assert parse_timestamp(text) == moment
    assert parse_timestamp(text).tzinfo is UTC
    with pytest.raises(EncodingError, match="timezone-aware"):
        format_timestamp(datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(EncodingError, match="when"):
        parse_timestamp("yesterday", field="when")


def test_signed_event_signature_shape_validated() -> None:
    with pytest.raises(EncodingError, match="64-byte"):
        SignedEvent(event(), KEY.key_id, b"\x00" * 63)


def test_first_event_decodes_with_null_prev() -> None:
    first = event(seq=0, prev=None)
    assert Event.from_dict(first.to_dict()) == first
