"""RFC 8941 §4.2.7: a parser accepts a byte sequence whose base64 lacks its ``=`` padding."""

from datetime import UTC, datetime, timedelta

import pytest

from backchannel.errors import VerificationError
from backchannel.log.signing import SigningKey
from backchannel.protocol.httpsig import sign_request, verify_request
from backchannel.protocol.nonces import NonceCache
from backchannel.protocol.structured_fields import parse_dictionary

KEY = SigningKey.from_seed(bytes(range(32)))
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
URI = "https://backchannel.example/v1/tracks/t/commands"
BODY = b'{"hello":"world"}'


def _unpadded(value: str) -> str:
    """``label=:<base64>:`` with the base64's ``=`` padding removed."""
    label, _, rest = value.partition("=:")
    return f"{label}=:{rest.removesuffix(':').rstrip('=')}:"


def _verify(headers: dict[str, str]) -> str:
    return verify_request(
        "POST", URI, headers, BODY, resolve_key=lambda _: KEY.verifying_key, now=NOW,
        nonces=NonceCache(timedelta(seconds=300), 10),
    ).key_id  # fmt: skip


def test_a_signature_without_padding_verifies() -> None:
    headers = sign_request("POST", URI, {}, BODY, key=KEY, created=NOW, nonce="n-0001")
    assert headers["Signature"].endswith("==:")  # 64 bytes: two padding characters
    headers["Signature"] = _unpadded(headers["Signature"])
    assert not headers["Signature"].endswith("=:")
    assert _verify(headers) == KEY.key_id


def test_an_unpadded_signature_of_other_bytes_still_fails() -> None:
    headers = sign_request("POST", URI, {}, BODY, key=KEY, created=NOW, nonce="n-0003")
    other = sign_request("POST", URI, {}, b"{}", key=KEY, created=NOW, nonce="n-0003")
    headers["Signature"] = _unpadded(other["Signature"])
    with pytest.raises(VerificationError):
        _verify(headers)


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        (":AAA:", b"\x00\x00"),
        (":AAA=:", b"\x00\x00"),
        (":AA:", b"\x00"),
        (":AQID:", b"\x01\x02\x03"),
        ("::", b""),
    ],
)
def test_byte_sequences_decode_with_or_without_padding(text: str, decoded: bytes) -> None:
    assert parse_dictionary(f"a={text}", "Signature")["a"].value == decoded


@pytest.mark.parametrize("text", [":A:", ":AAAAA:", ":AB:", ":AB=:"])
def test_impossible_or_non_canonical_base64_is_still_refused(text: str) -> None:
    with pytest.raises(VerificationError, match="byte sequence"):
        parse_dictionary(f"a={text}", "Signature")
