"""RFC 9421 request signatures: the RFC's Ed25519 vectors, the profile, every refusal, replay."""

import base64
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backchannel.errors import (
    ConfigurationError,
    EncodingError,
    NotFoundError,
    OperationalError,
    VerificationError,
)
from backchannel.log.signing import SigningKey, VerifyingKey, b64encode
from backchannel.protocol import structured_fields
from backchannel.protocol.httpsig import (
    NonceCache,
    VerifiedRequest,
    content_digest,
    sign_request,
    signature_base,
    verify_request,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rfc9421" / "ed25519.json").read_text(encoding="utf-8")
)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


RFC_KEY = SigningKey.from_seed(_b64url(VECTORS["key"]["jwk_d"]))


class MultiHeaders(Mapping[str, str]):
    """Header fields as Starlette holds them: ``items()`` yields every field line, repeats included."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def __getitem__(self, name: str) -> str:
        for key, value in self._pairs:
            if key.lower() == name.lower():
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k.lower() for k, _ in self._pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(k.lower() for k, _ in self._pairs))

    def items(self):
        return list(self._pairs)


def _uri(request_line: str, headers: list[list[str]]) -> str:
    """Rebuild an origin-form request's target URI (scheme https; the vectors do not cover it)."""
    method, target, _version = request_line.split(" ")
    host = next(value for name, value in headers if name.lower() == "host")
    assert method in {"GET", "POST"}
    return f"https://{host}{target}"


# --------------------------------------------------------------------------------------------------
# RFC 9421 Appendix B vectors (tests/vectors/rfc9421/README.md)
# --------------------------------------------------------------------------------------------------


def test_the_rfc_test_key_is_consistent_in_all_its_forms() -> None:
    key = VECTORS["key"]
    assert RFC_KEY.verifying_key.public_bytes == _b64url(key["jwk_x"])
    private = serialization.load_pem_private_key(key["private_pem"].encode(), password=None)
    public = serialization.load_pem_public_key(key["public_pem"].encode())
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    assert private.private_bytes_raw() == RFC_KEY.private_bytes_unsafe()
    assert public.public_bytes_raw() == RFC_KEY.verifying_key.public_bytes


def test_the_rfc_test_request_digest_is_the_sha512_of_its_body() -> None:
    request = VECTORS["test_request"]
    digest = dict(request["headers"])["Content-Digest"]
    expected = base64.b64encode(hashlib.sha512(request["body"].encode()).digest()).decode()
    assert digest == f"sha-512=:{expected}:"
    assert _uri(request["request_line"], request["headers"]) == request["target_uri"]


def test_b26_signature_base_is_reproduced_byte_for_byte_and_the_signature_too() -> None:
    request, vector = VECTORS["test_request"], VECTORS["b26"]
    params = dict(vector["params"])
    base = signature_base(
        request["method"],
        request["target_uri"],
        MultiHeaders([tuple(pair) for pair in request["headers"]]),
        components=vector["components"],
        params=params,
    )
    assert base == "\n".join(vector["signature_base_lines"]).encode("ascii")
    label, signature_b64 = vector["signature"].split("=", 1)
    signature = base64.b64decode(signature_b64.strip(":"))
    RFC_KEY.verifying_key.verify(signature, base)
    assert RFC_KEY.sign(base) == signature  # Ed25519 is deterministic
    # Our serialisation of the parameters is the RFC's Signature-Input, and our parser reads it back.
    inner = structured_fields.serialize_inner_list(vector["components"], params)
    assert f"{vector['label']}={inner}" == vector["signature_input"]
    parsed = structured_fields.parse_dictionary(vector["signature_input"], "Signature-Input")
    members = structured_fields.parse_dictionary(vector["signature"], "Signature")
    assert list(parsed) == list(members) == [label]
    assert [i.value for i in parsed[label].items] == vector["components"]
    assert parsed[label].params == params
    assert members[label].value == signature


def test_b26_is_refused_by_our_profile_naming_what_is_missing() -> None:
    request, vector = VECTORS["test_request"], VECTORS["b26"]
    headers = MultiHeaders(
        [
            *(tuple(pair) for pair in request["headers"]),
            ("Signature-Input", vector["signature_input"]),
            ("Signature", vector["signature"]),
        ]
    )
    with pytest.raises(VerificationError, match=r"does not cover \['@target-uri', 'content-digest'\]"):
        verify_request(
            request["method"],
            request["target_uri"],
            headers,
            request["body"].encode(),
            resolve_key=lambda _kid: RFC_KEY.verifying_key,
            now=datetime(2021, 4, 20, 2, 7, 55, tzinfo=UTC),
            nonces=NonceCache(timedelta(seconds=300), 10),
        )


@pytest.mark.parametrize("message", VECTORS["b4"]["messages"], ids=lambda m: m["name"])
def test_b4_transformations_verify_exactly_when_the_rfc_says(message: dict) -> None:
    vector = VECTORS["b4"]
    method = message["request_line"].split(" ")[0]
    base = signature_base(
        method,
        _uri(message["request_line"], message["headers"]),
        MultiHeaders([tuple(pair) for pair in message["headers"]]),
        components=vector["components"],
        params=dict(vector["params"]),
    )
    if message["name"] == "original":
        assert base == "\n".join(vector["signature_base_lines"]).encode("ascii")
    signature = base64.b64decode(vector["signature"].split("=", 1)[1].strip(":"))
    assert RFC_KEY.verifying_key.is_valid(signature, base) is message["valid"]


# --------------------------------------------------------------------------------------------------
# Our profile: helpers
# --------------------------------------------------------------------------------------------------

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(b"\x02" * 32)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CREATED = int(NOW.timestamp())
URI = "https://api.backchannel.example/v1/tracks/t1/commands?dry_run=0"
BODY = b'{"command": "message.submit"}'
BASE_HEADERS = {"Content-Type": "application/json"}
PARAMS: dict[str, int | str] = {
    "created": CREATED,
    "keyid": KEY.key_id,
    "alg": "ed25519",
    "nonce": "nonce-1",
    "tag": "backchannel",
}
REQUIRED = ["@method", "@target-uri", "content-digest"]


def resolver(*keys: SigningKey):
    table = {k.key_id: k.verifying_key for k in keys}
    return table.__getitem__  # KeyError for an unknown id


def cache(window: int = 300, max_entries: int = 100) -> NonceCache:
    return NonceCache(timedelta(seconds=window), max_entries)


def signed(*, created: datetime = NOW, nonce: str = "nonce-1", key: SigningKey = KEY, body: bytes = BODY):
    headers = dict(BASE_HEADERS)
    headers.update(sign_request("POST", URI, BASE_HEADERS, body, key=key, created=created, nonce=nonce))
    return headers


def verify(headers, *, method="POST", uri=URI, body=BODY, now=NOW, nonces=None, resolve=None, **kwargs):
    return verify_request(
        method,
        uri,
        headers,
        body,
        resolve_key=resolve or resolver(KEY),
        now=now,
        nonces=nonces if nonces is not None else cache(),
        **kwargs,
    )


def forge(components=REQUIRED, params=PARAMS, *, key=KEY, extra=None, label="sig1"):
    """Sign any covered components and parameters (the public base builder plus our serialiser)."""
    headers = {**BASE_HEADERS, **(extra or {}), "Content-Digest": content_digest(BODY)}
    base = signature_base("POST", URI, headers, components=components, params=params)
    headers["Signature-Input"] = f"{label}={structured_fields.serialize_inner_list(components, params)}"
    headers["Signature"] = f"{label}=:{b64encode(key.sign(base))}:"
    return headers


def with_input(text: str) -> dict[str, str]:
    return {**signed(), "Signature-Input": text}


def with_signature(text: str) -> dict[str, str]:
    return {**signed(), "Signature": text}


def refused(headers, match: str, **kwargs) -> VerificationError:
    with pytest.raises(VerificationError, match=match) as caught:
        verify(headers, **kwargs)
    return caught.value


# --------------------------------------------------------------------------------------------------
# Signing and verifying
# --------------------------------------------------------------------------------------------------


def test_sign_writes_the_three_fields_of_the_profile() -> None:
    added = sign_request("POST", URI, BASE_HEADERS, BODY, key=KEY, created=NOW, nonce="nonce-1")
    assert set(added) == {"Content-Digest", "Signature-Input", "Signature"}
    assert added["Content-Digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(BODY).digest()).decode()}:"
    assert added["Signature-Input"] == (
        f'sig1=("@method" "@target-uri" "content-digest");created={CREATED};keyid="{KEY.key_id}"'
        ';alg="ed25519";nonce="nonce-1";tag="backchannel"'
    )
    base = (
        f'"@method": POST\n"@target-uri": {URI}\n"content-digest": {added["Content-Digest"]}\n'
        f'"@signature-params": {added["Signature-Input"].removeprefix("sig1=")}'
    ).encode()
    signature = base64.b64decode(added["Signature"].removeprefix("sig1=:").removesuffix(":"))
    KEY.verifying_key.verify(signature, base)


def test_round_trip_returns_who_when_and_which_nonce() -> None:
    result = verify(signed())
    assert result == VerifiedRequest(key_id=KEY.key_id, created=NOW, nonce="nonce-1")
    assert result.created.tzinfo is UTC


def test_created_is_rounded_down_to_whole_seconds() -> None:
    headers = signed(created=NOW + timedelta(microseconds=999_999))
    assert f";created={CREATED};" in headers["Signature-Input"]
    assert verify(headers).created == NOW


def test_an_empty_body_is_signed_and_checked_too() -> None:
    headers = signed(body=b"")
    assert headers["Content-Digest"] == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    assert verify(headers, body=b"").nonce == "nonce-1"
    refused(headers, "Content-Digest does not match the request body", body=b"x")


@pytest.mark.parametrize("rename", [str.lower, str.upper, lambda n: n.swapcase()])
def test_header_names_are_case_insensitive(rename) -> None:
    headers = {rename(name): value for name, value in signed().items()}
    assert verify(headers).key_id == KEY.key_id


def test_headers_may_come_as_field_lines_with_repeats() -> None:
    lines = [(name.lower(), value) for name, value in signed().items()]
    assert verify(MultiHeaders(lines)).nonce == "nonce-1"


def test_extra_covered_fields_are_honoured() -> None:
    components = [*REQUIRED, "x-request-id", "@authority"]
    headers = forge(components, extra={"X-Request-Id": "  r-42\t"})
    assert verify(headers).key_id == KEY.key_id
    refused({**headers, "X-Request-Id": "r-43"}, "signature does not verify")


def test_parameter_order_is_the_signers() -> None:
    reordered = {k: PARAMS[k] for k in ("tag", "nonce", "alg", "keyid", "created")}
    headers = forge(params=reordered)
    assert headers["Signature-Input"].startswith('sig1=("@method" "@target-uri" "content-digest");tag=')
    assert verify(headers).nonce == "nonce-1"


def test_any_single_label_is_accepted() -> None:
    assert verify(forge(label="client-7")).key_id == KEY.key_id


def test_a_custom_tag_must_match_on_both_sides() -> None:
    headers = dict(BASE_HEADERS)
    headers.update(
        sign_request("POST", URI, BASE_HEADERS, BODY, key=KEY, created=NOW, nonce="n", tag="witness-v1")
    )
    assert verify(headers, tag="witness-v1").nonce == "n"
    refused(headers, "tag must be 'backchannel', got 'witness-v1'")


# --------------------------------------------------------------------------------------------------
# Tampering with each covered component
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"method": "PUT"}, "signature does not verify"),
        ({"uri": URI.replace("/t1/", "/t2/")}, "signature does not verify"),
        ({"uri": URI.replace("dry_run=0", "dry_run=1")}, "signature does not verify"),
        ({"uri": URI.replace("api.", "evil.")}, "signature does not verify"),
        ({"uri": URI.replace("https:", "http:")}, "signature does not verify"),
        ({"body": BODY + b" "}, "Content-Digest does not match the request body"),
    ],
)
def test_tampering_with_method_uri_or_body_is_refused(change, match) -> None:
    refused(signed(), match, **change)


def test_a_digest_rewritten_to_match_a_new_body_breaks_the_signature() -> None:
    body = b'{"command": "evil"}'
    headers = {**signed(), "Content-Digest": content_digest(body)}
    refused(headers, "signature does not verify", body=body)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"created={CREATED}", f"created={CREATED + 1}"),
        ('nonce="nonce-1"', 'nonce="nonce-2"'),
        ('"@target-uri" "content-digest"', '"content-digest" "@target-uri"'),
    ],
)
def test_tampering_with_signature_parameters_is_refused(old, new) -> None:
    headers = signed()
    tampered = headers["Signature-Input"].replace(old, new)
    assert tampered != headers["Signature-Input"]
    refused(with_input(tampered) | {"Signature": headers["Signature"]}, "signature does not verify")


def test_a_flipped_signature_byte_is_refused() -> None:
    headers = signed()
    raw = bytearray(base64.b64decode(headers["Signature"][6:-1]))
    raw[10] ^= 1
    refused(with_signature(f"sig1=:{b64encode(bytes(raw))}:"), "signature does not verify for key")


def test_a_keyid_swapped_to_another_enrolled_key_is_refused() -> None:
    headers = signed()
    swapped = headers["Signature-Input"].replace(KEY.key_id, OTHER.key_id)
    refused(with_input(swapped), "signature does not verify", resolve=resolver(KEY, OTHER))


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------


def test_an_unknown_key_id_is_refused() -> None:
    error = refused(signed(key=OTHER), f"unknown or unusable key id '{OTHER.key_id}'")
    assert isinstance(error.__cause__, KeyError)


def test_a_resolver_refusal_of_our_own_type_is_refused_with_its_reason() -> None:
    def revoked(key_id: str) -> VerifyingKey:
        raise NotFoundError(f"key {key_id} was revoked at 2026-11-22T00:00:00Z")

    refused(signed(), "unusable key id .* was revoked", resolve=revoked)


def test_other_resolver_failures_are_bugs_and_propagate() -> None:
    def broken(_key_id: str) -> VerifyingKey:
        raise RuntimeError("database driver crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        verify(signed(), resolve=broken)


def test_a_resolver_returning_another_key_is_refused() -> None:
    refused(signed(), "key resolver returned key", resolve=lambda _kid: OTHER.verifying_key)


# --------------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_created_within_the_skew_is_accepted_boundaries_included(offset: int) -> None:
    assert verify(signed(created=NOW + timedelta(seconds=offset))).created == NOW + timedelta(seconds=offset)


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_created_outside_the_skew_is_refused(offset: int) -> None:
    refused(signed(created=NOW + timedelta(seconds=offset)), "the window is ±300 s")


@pytest.mark.parametrize(
    ("offset", "says"),
    [(-3600, "created 3600 s in the past; the window is ±300 s"), (301, "created 301 s in the future")],
)
def test_issue_8_a_skew_error_says_seconds_not_a_timedelta(offset: int, says: str) -> None:
    error = refused(signed(created=NOW + timedelta(seconds=offset)), says)
    assert "day" not in str(error)
    assert "allowed skew" in str(error)


def test_the_skew_is_configurable() -> None:
    headers = signed(created=NOW - timedelta(seconds=30))
    refused(headers, "the window is ±10 s", max_skew=timedelta(seconds=10))
    assert verify(headers, max_skew=timedelta(seconds=30)).nonce == "nonce-1"


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(EncodingError, match="now: datetime must be timezone-aware"):
        verify(signed(), now=NOW.replace(tzinfo=None))


def test_a_nonce_window_shorter_than_the_skew_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="shorter than the allowed skew"):
        verify(signed(), nonces=cache(window=299))


# --------------------------------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------------------------------


def test_a_replayed_request_is_refused() -> None:
    nonces = cache()
    headers = signed()
    verify(headers, nonces=nonces)
    refused(headers, "replayed nonce 'nonce-1'", nonces=nonces, now=NOW + timedelta(seconds=299))


def test_the_same_nonce_under_another_key_is_not_a_replay() -> None:
    nonces = cache()
    verify(signed(), nonces=nonces)
    assert verify(signed(key=OTHER), nonces=nonces, resolve=resolver(OTHER)).key_id == OTHER.key_id


def test_a_forged_request_does_not_burn_the_nonce() -> None:
    nonces = cache()
    forged = with_signature(f"sig1=:{b64encode(bytes(64))}:")
    refused(forged, "signature does not verify", nonces=nonces)
    assert len(nonces) == 0
    assert verify(signed(), nonces=nonces).nonce == "nonce-1"


# --------------------------------------------------------------------------------------------------
# Missing and malformed fields
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Signature-Input", "Signature", "Content-Digest"])
def test_a_missing_field_is_named(name: str) -> None:
    headers = {k: v for k, v in signed().items() if k != name}
    refused(headers, f"missing {name} header")


def test_an_overlong_field_is_refused_before_parsing() -> None:
    refused(with_input("sig1=" + "a" * 9000), "Signature-Input header longer than 8192 characters")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "expected a key .* at offset 0"),
        ("Sig1=()", "expected a key .* at offset 0"),
        ('sig1=("@method"), sig1=("@method")', "duplicate member 'sig1' at offset 22"),
        ('sig1=("@method") x', "expected ',' between members at offset 17"),
        ('sig1=("@method"),', "trailing ','"),
        ('sig1=("@method"),  \t', "trailing ','"),
        ('sig1=("@method""@path")', "expected ' ' or '[)]' in an inner list"),
        ('sig1=("@method"', "expected ' ' or '[)]' in an inner list"),
        ('sig1=("@method");created=1;created=2', "duplicate parameter 'created'"),
        ("sig1=(@method)", "expected a string, integer, byte sequence, boolean or token at offset 6"),
        ('sig1=("@method");created=1.5', "expected a string, integer"),
        ('sig1=("@method");created=1234567890123456', "expected a string, integer"),
        ('sig1=("@method");created="caf\u00e9"', "expected a string, integer"),
        ('sig1=("@method");keyid="a\\b"', "expected a string, integer"),
        ("sig1=:A:", "byte sequence: not valid base64"),
        ("sig1=:AB==:", "byte sequence: base64 is not in canonical form"),
    ],
)
def test_malformed_signature_input_is_refused_with_the_offset(text: str, match: str) -> None:
    refused(with_input(text), "Signature-Input: " + match)


def test_a_malformed_signature_field_is_named() -> None:
    refused(with_signature("sig1=:not base64:"), "Signature: expected a string, integer, byte sequence")


def test_more_than_one_signature_is_refused() -> None:
    headers = signed()
    second = headers["Signature-Input"].replace("sig1=", "sig2=")
    refused(
        with_input(f"{headers['Signature-Input']}, {second}"),
        r"exactly one signature, found \['sig1', 'sig2'\]",
    )


@pytest.mark.parametrize(
    ("signature", "match"),
    [
        (lambda s: s.replace("sig1=", "sig2="), r"expected exactly the label 'sig1', found \['sig2'\]"),
        (lambda s: f"{s}, sig2=:AAAA:", r"expected exactly the label 'sig1', found \['sig1', 'sig2'\]"),
        (lambda _s: 'sig1="abc"', "'sig1' must be a byte sequence without parameters"),
        (lambda _s: "sig1=(:AAAA:)", "'sig1' must be a byte sequence without parameters"),
        (lambda s: f"{s};k=1", "'sig1' must be a byte sequence without parameters"),
        (lambda _s: f"sig1=:{b64encode(bytes(32))}:", "'sig1' must be 64 bytes, got 32"),
    ],
)
def test_a_bad_signature_member_is_refused(signature, match: str) -> None:
    refused(with_signature(signature(signed()["Signature"])), "Signature: " + match)


def test_a_signature_input_that_is_not_an_inner_list_is_refused() -> None:
    refused(with_input('sig1="@method"'), "'sig1' must be an inner list of components")
    refused(with_input("sig1"), "'sig1' must be an inner list of components")


# --------------------------------------------------------------------------------------------------
# The profile: components and parameters
# --------------------------------------------------------------------------------------------------

TAIL = f';created={CREATED};keyid="{KEY.key_id}";alg="ed25519";nonce="nonce-1";tag="backchannel"'


@pytest.mark.parametrize(
    ("inner", "match"),
    [
        ('"@method" "@target-uri" content-digest', "covers a component that is not a string"),
        ('"@method" "@target-uri" "content-digest";sf', "component 'content-digest' has parameters"),
        ('"@method" "@target-uri" "content-digest" "@method"', "component '@method' is covered twice"),
        ('"@target-uri" "content-digest"', r"does not cover \['@method'\]"),
        ('"@method" "content-digest"', r"does not cover \['@target-uri'\]"),
        ('"@method" "@target-uri"', r"does not cover \['content-digest'\]"),
        ("", r"does not cover \['@method', '@target-uri', 'content-digest'\]"),
    ],
)
def test_the_covered_components_are_checked(inner: str, match: str) -> None:
    refused(with_input(f"sig1=({inner}){TAIL}"), "Signature-Input: .*" + match)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({**PARAMS, "expires": CREATED + 60}, r"unsupported signature parameter\(s\) \['expires'\]"),
        (
            {k: v for k, v in PARAMS.items() if k != "created"},
            r"missing signature parameter\(s\) \['created'\]",
        ),
        ({k: v for k, v in PARAMS.items() if k != "nonce"}, r"missing signature parameter\(s\) \['nonce'\]"),
        ({k: v for k, v in PARAMS.items() if k != "keyid"}, r"missing signature parameter\(s\) \['keyid'\]"),
        ({k: v for k, v in PARAMS.items() if k != "alg"}, r"missing signature parameter\(s\) \['alg'\]"),
        ({k: v for k, v in PARAMS.items() if k != "tag"}, r"missing signature parameter\(s\) \['tag'\]"),
        ({**PARAMS, "created": str(CREATED)}, "created must be a Unix time in seconds, got '"),
        ({**PARAMS, "created": -1}, "created must be a Unix time in seconds, got -1"),
        ({**PARAMS, "created": 253_402_300_800}, "created must be a Unix time in seconds, got 253402300800"),
        ({**PARAMS, "alg": "rsa-pss-sha512"}, "alg must be 'ed25519', got 'rsa-pss-sha512'"),
        ({**PARAMS, "tag": "other-app"}, "tag must be 'backchannel', got 'other-app'"),
        ({**PARAMS, "nonce": "has space"}, "nonce must be 1-128 characters"),
        ({**PARAMS, "nonce": ""}, "nonce must be 1-128 characters"),
        ({**PARAMS, "nonce": "n" * 129}, "nonce must be 1-128 characters"),
    ],
)
def test_the_signature_parameters_are_checked(params, match: str) -> None:
    refused(forge(params=params), "Signature-Input: " + match)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (f';created=?1;keyid="{KEY.key_id}";alg="ed25519";nonce="n";tag="backchannel"', "created must"),
        (
            f';created={CREATED};keyid=abc;alg="ed25519";nonce="n";tag="backchannel"',
            "keyid must be an sf-string",
        ),
        (f';created={CREATED};keyid="k";alg=ed25519;nonce="n";tag="backchannel"', "alg must be an sf-string"),
        (
            f';created={CREATED};keyid="k";alg="ed25519";nonce=:AAAA:;tag="backchannel"',
            "nonce must be an sf-string",
        ),
        (f';created={CREATED};keyid="k";alg="ed25519";nonce="n";tag', "tag must be an sf-string"),
    ],
)
def test_parameters_of_the_wrong_structured_type_are_refused(raw: str, match: str) -> None:
    refused(with_input(f'sig1=("@method" "@target-uri" "content-digest"){raw}'), "Signature-Input: " + match)


@pytest.mark.parametrize(
    ("digest", "match"),
    [
        (
            lambda d: f"{d}, sha-512=:{b64encode(hashlib.sha512(BODY).digest())}:",
            r"expected exactly one sha-256 digest, found \['sha-256', 'sha-512'\]",
        ),
        (
            lambda _d: f"sha-512=:{b64encode(hashlib.sha512(BODY).digest())}:",
            r"expected exactly one sha-256 digest, found \['sha-512'\]",
        ),
        (lambda _d: "sha-256=1", "sha-256 must be a 32-byte byte sequence"),
        (lambda _d: "sha-256=(:AAAA:)", "sha-256 must be a 32-byte byte sequence"),
        (lambda _d: f"sha-256=:{b64encode(bytes(31))}:", "sha-256 must be a 32-byte byte sequence"),
        (lambda d: f"{d};q=1", "sha-256 must be a 32-byte byte sequence"),
        (lambda _d: "sha-256=:%%:", "expected a string, integer, byte sequence, boolean or token"),
    ],
)
def test_a_bad_content_digest_is_refused(digest, match: str) -> None:
    headers = signed()
    refused({**headers, "Content-Digest": digest(headers["Content-Digest"])}, "Content-Digest: " + match)


@pytest.mark.parametrize(
    ("components", "extra", "match"),
    [
        ([*REQUIRED, "date"], {}, "covered field 'date' is absent from the request"),
        ([*REQUIRED, "x-note"], {"X-Note": "a\x01b"}, "field 'x-note' holds control or non-ASCII characters"),
        (
            [*REQUIRED, "x-note"],
            {"X-Note": "caf\u00e9"},
            "field 'x-note' holds control or non-ASCII characters",
        ),
        ([*REQUIRED, "@query-param"], {}, "unsupported derived component '@query-param'"),
        ([*REQUIRED, "@status"], {}, "unsupported derived component '@status'"),
        ([*REQUIRED, "Date"], {"Date": "x"}, "component 'Date' is not a lowercase field name"),
    ],
)
def test_components_that_cannot_be_built_are_refused(components, extra, match: str) -> None:
    inner = structured_fields.serialize_inner_list(components, PARAMS)
    headers = {
        **BASE_HEADERS,
        **extra,
        "Content-Digest": content_digest(BODY),
        "Signature-Input": f"sig1={inner}",
        "Signature": f"sig1=:{b64encode(bytes(64))}:",
    }
    refused(headers, match)
    with pytest.raises(EncodingError, match=match):
        signature_base("POST", URI, headers, components=components, params=PARAMS)


@pytest.mark.parametrize(
    ("method", "uri", "match"),
    [
        ("PO ST", URI, "method 'PO ST' is not an HTTP token"),
        ("", URI, "method '' is not an HTTP token"),
        ("POST", "/v1/tracks/t1/commands", "is not an absolute http"),
        ("POST", "ftp://api.backchannel.example/x", "is not an absolute http"),
        ("POST", "https://user@api.backchannel.example/x", "is not an absolute http"),
        ("POST", "https://api.backchannel.example/x#frag", "is not an absolute http"),
        ("POST", "https://api.backchannel.example/a b", "is not an absolute http"),
        ("POST", "https://api.backchannel.example/caf\u00e9", "is not an absolute http"),
        ("POST", "https://", "is not an absolute http"),
    ],
)
def test_a_bad_method_or_target_uri_is_refused_on_both_sides(method: str, uri: str, match: str) -> None:
    refused(signed(), match, method=method, uri=uri)
    with pytest.raises(EncodingError, match=match):
        sign_request(method, uri, {}, BODY, key=KEY, created=NOW, nonce="n")


# --------------------------------------------------------------------------------------------------
# Derived components and field values
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "HTTPS://API.Example:443/v1/x?a=1&b=%20",
            {
                "@scheme": "https",
                "@authority": "api.example",
                "@path": "/v1/x",
                "@query": "?a=1&b=%20",
            },
        ),
        (
            "http://example.com:80",
            {"@scheme": "http", "@authority": "example.com", "@path": "/", "@query": "?"},
        ),
        ("http://example.com:8080/?", {"@authority": "example.com:8080", "@path": "/", "@query": "?"}),
        ("https://example.com:/p", {"@authority": "example.com", "@path": "/p"}),
        ("https://[2001:DB8::1]:8443/p?q", {"@authority": "[2001:db8::1]:8443", "@query": "?q"}),
        ("https://example.com:80/p", {"@authority": "example.com:80"}),
    ],
)
def test_derived_components_follow_rfc_9421_section_2_2(uri: str, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        base = signature_base("GET", uri, {}, components=[name], params={})
        assert base == f'"{name}": {value}\n"@signature-params": ("{name}")'.encode()
    target = signature_base("GET", uri, {}, components=["@target-uri"], params={})
    assert target.startswith(f'"@target-uri": {uri}\n'.encode())


def test_field_values_are_trimmed_and_repeats_joined() -> None:
    headers = MultiHeaders([("Accept", " application/json\t"), ("X-Empty", ""), ("accept", "*/*  ")])
    base = signature_base("GET", "https://e.example/", headers, components=["accept", "x-empty"], params={})
    assert base == b'"accept": application/json, */*\n"x-empty": \n"@signature-params": ("accept" "x-empty")'


def test_string_parameters_are_escaped_and_parsed_back() -> None:
    params = {"keyid": 'a"b\\c', "created": 0}
    base = signature_base("GET", "https://e.example/", {}, components=[], params=params)
    assert base == b'"@signature-params": ();keyid="a\\"b\\\\c";created=0'
    parsed = structured_fields.parse_dictionary('x=();keyid="a\\"b\\\\c";created=0', "T")
    assert parsed["x"].params == params


@pytest.mark.parametrize(
    ("components", "params", "match"),
    [
        ([], {"keyid": "caf\u00e9"}, "is not printable ASCII, so not an sf-string"),
        (["caf\u00e9"], {}, "is not printable ASCII, so not an sf-string"),
        ([], {"Created": 1}, "parameter name 'Created' is not an sf-key"),
        ([], {"": 1}, "parameter name '' is not an sf-key"),
        ([], {"created": True}, "parameter value True is neither an sf-string nor an sf-integer"),
        ([], {"created": 10**15}, "parameter value 1000000000000000 is neither"),
        ([], {"created": -(10**15)}, "parameter value -1000000000000000 is neither"),
    ],
)
def test_what_structured_fields_cannot_express_is_refused(components, params, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        signature_base("GET", "https://e.example/", {}, components=components, params=params)


def test_the_largest_sf_integers_are_serialised() -> None:
    params = {"a": 999_999_999_999_999, "b": -999_999_999_999_999}
    base = signature_base("GET", "https://e.example/", {}, components=[], params=params)
    assert base == b'"@signature-params": ();a=999999999999999;b=-999999999999999'
    assert (
        structured_fields.parse_dictionary("x=()" + base.decode().split("()", 1)[1], "T")["x"].params
        == params
    )


def test_the_parser_reads_the_rest_of_the_subset() -> None:
    parsed = structured_fields.parse_dictionary(
        '  a=tok/en:1;p;q=?0, b=?1 ,\tc=-12;x=:AQI=:, d=("s";i=1 t  );z, e', "T"
    )
    assert parsed == {
        "a": structured_fields.Item(structured_fields.Token("tok/en:1"), {"p": True, "q": False}),
        "b": structured_fields.Item(True, {}),
        "c": structured_fields.Item(-12, {"x": b"\x01\x02"}),
        "d": structured_fields.InnerList(
            (structured_fields.Item("s", {"i": 1}), structured_fields.Item(structured_fields.Token("t"), {})),
            {"z": True},
        ),
        "e": structured_fields.Item(True, {}),
    }


# --------------------------------------------------------------------------------------------------
# Signing refusals
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Content-Digest", "signature", "SIGNATURE-INPUT"])
def test_sign_refuses_headers_that_already_carry_signature_fields(name: str) -> None:
    with pytest.raises(EncodingError, match="headers already carry"):
        sign_request("POST", URI, {name: "x"}, BODY, key=KEY, created=NOW, nonce="n")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nonce": ""}, "nonce '' must be 1-128 characters"),
        ({"nonce": "a b"}, "nonce 'a b' must be 1-128 characters"),
        ({"nonce": '"'}, "must be 1-128 characters"),
        ({"nonce": "n" * 129}, "must be 1-128 characters"),
        ({"tag": ""}, "tag '' must be 1-64 characters"),
        ({"tag": "t" * 65}, "tag .* must be 1-64 characters"),
        ({"created": NOW.replace(tzinfo=None)}, "created: datetime must be timezone-aware"),
        ({"created": datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)}, "is before 1970"),
    ],
)
def test_sign_refuses_bad_inputs(kwargs, match: str) -> None:
    arguments = {"key": KEY, "created": NOW, "nonce": "n", **kwargs}
    with pytest.raises(EncodingError, match=match):
        sign_request("POST", URI, {}, BODY, **arguments)


def test_sign_accepts_the_epoch_and_any_time_zone() -> None:
    east = NOW.astimezone(timezone(timedelta(hours=2)))
    assert east.hour == 14
    headers = sign_request("POST", URI, {}, BODY, key=KEY, created=east, nonce="n")
    assert f";created={CREATED};" in headers["Signature-Input"]
    epoch = sign_request("POST", URI, {}, BODY, key=KEY, created=datetime(1970, 1, 1, tzinfo=UTC), nonce="n")
    assert ";created=0;" in epoch["Signature-Input"]


# --------------------------------------------------------------------------------------------------
# NonceCache
# --------------------------------------------------------------------------------------------------


def test_nonce_cache_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="window must be positive"):
        NonceCache(timedelta(0), 10)
    with pytest.raises(ConfigurationError, match="max_entries must be at least 1, got 0"):
        NonceCache(timedelta(seconds=1), 0)
    nonces = NonceCache(timedelta(seconds=60), 3)
    assert (nonces.window, nonces.max_entries, len(nonces)) == (timedelta(seconds=60), 3, 0)


def test_nonce_cache_remembers_until_created_plus_window_has_passed() -> None:
    nonces = NonceCache(timedelta(seconds=60), 10)
    nonces.check_and_add("k", "n", NOW, NOW)
    with pytest.raises(VerificationError, match="replayed nonce 'n' for key k"):
        nonces.check_and_add("k", "n", NOW, NOW + timedelta(seconds=60))  # the last instant of the window
    nonces.check_and_add("k", "n", NOW + timedelta(seconds=1), NOW + timedelta(seconds=60, microseconds=1))
    assert len(nonces) == 1  # the old entry was evicted, the new one recorded


def test_nonce_cache_refuses_a_created_older_than_its_window() -> None:
    nonces = NonceCache(timedelta(seconds=60), 10)
    with pytest.raises(VerificationError, match="older than the replay window"):
        nonces.check_and_add("k", "n", NOW - timedelta(seconds=61), NOW)
    nonces.check_and_add("k", "n", NOW - timedelta(seconds=60), NOW)  # boundary: still checkable


def test_nonce_cache_evicts_expired_entries_first_then_fails_closed() -> None:
    nonces = NonceCache(timedelta(seconds=60), 2)
    nonces.check_and_add("k", "a", NOW, NOW)
    nonces.check_and_add("k", "b", NOW + timedelta(seconds=30), NOW + timedelta(seconds=30))
    with pytest.raises(OperationalError, match="nonce cache full: 2 unexpired nonces"):
        nonces.check_and_add("k", "c", NOW + timedelta(seconds=30), NOW + timedelta(seconds=30))
    assert len(nonces) == 2
    later = NOW + timedelta(seconds=61)  # "a" has expired, "b" has not
    nonces.check_and_add("k", "c", later, later)
    with pytest.raises(VerificationError, match="replayed nonce 'b'"):
        nonces.check_and_add("k", "b", NOW + timedelta(seconds=30), later)
    with pytest.raises(OperationalError, match="cache full"):
        nonces.check_and_add("k", "d", later, later)


def test_verify_surfaces_a_full_cache_as_an_operational_error() -> None:
    nonces = cache(max_entries=1)
    verify(signed(nonce="first"), nonces=nonces)
    with pytest.raises(OperationalError, match="cache full"):
        verify(signed(nonce="second"), nonces=nonces)


def test_nonce_cache_refuses_naive_datetimes() -> None:
    nonces = NonceCache(timedelta(seconds=60), 2)
    with pytest.raises(EncodingError, match="created: datetime must be timezone-aware"):
        nonces.check_and_add("k", "n", NOW.replace(tzinfo=None), NOW)
    with pytest.raises(EncodingError, match="now: datetime must be timezone-aware"):
        nonces.check_and_add("k", "n", NOW, NOW.replace(tzinfo=None))


def test_nonce_cache_admits_a_nonce_once_across_threads() -> None:
    nonces = NonceCache(timedelta(seconds=60), 1000)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            nonces.check_and_add("k", "same", NOW, NOW)
            result = "accepted"
        except VerificationError:
            result = "replay"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted"] + ["replay"] * 7
