"""Sealed annexes: the construction, round trips, every tampering, strict decoding, limits."""

import dataclasses
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from backchannel.errors import EncodingError, VerificationError
from backchannel.log.sealing import MAX_CONTEXT, MAX_PLAINTEXT, SUITE, SealedAnnex, open_sealed, seal
from backchannel.log.signing import AgreementKey, b64encode, key_id
from backchannel.protocol.keyfile import generate_agreement_key

# RFC 7748 "Elliptic Curves for Security", §6.1 "Curve25519": the Diffie-Hellman example.
RFC7748_ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC7748_ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
RFC7748_BOB_PRIVATE = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
RFC7748_BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
RFC7748_SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

# Low-order X25519 points (and their non-canonical twins with the top bit set): all give an all-zero secret.
LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]

CONTEXT = b"track:t1/message:m-42/to:delegation-b/alice"
PLAINTEXT = b"Annex 3: the red lines, for your principal only."

ALICE = AgreementKey.from_private_bytes(RFC7748_ALICE_PRIVATE)
BOB = AgreementKey.from_private_bytes(RFC7748_BOB_PRIVATE)
CAROL = AgreementKey.from_private_bytes(bytes(range(32)))


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, written out with hmac so the test does not share code with the module."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def sealed(plaintext: bytes = PLAINTEXT, *, context: bytes = CONTEXT) -> SealedAnnex:
    return seal(plaintext, BOB.public_bytes, ephemeral=generate_agreement_key(), context=context)


# --------------------------------------------------------------------------------------------------
# The construction
# --------------------------------------------------------------------------------------------------


def test_the_construction_is_the_documented_one() -> None:
    """X25519 (RFC 7748 example keys) -> HKDF-SHA256(salt=E||R, info=suite||context) -> ChaCha20-Poly1305."""
    assert ALICE.public_bytes == RFC7748_ALICE_PUBLIC
    assert BOB.public_bytes == RFC7748_BOB_PUBLIC
    annex = seal(PLAINTEXT, RFC7748_BOB_PUBLIC, ephemeral=ALICE, context=CONTEXT)

    okm = _hkdf_sha256(
        RFC7748_SHARED, RFC7748_ALICE_PUBLIC + RFC7748_BOB_PUBLIC, b"backchannel/seal/v1" + CONTEXT, 44
    )
    expected = ChaCha20Poly1305(okm[:32]).encrypt(okm[32:], PLAINTEXT, CONTEXT)
    assert annex == SealedAnnex(
        recipient_key_id=key_id("x25519", RFC7748_BOB_PUBLIC),
        ephemeral_public=RFC7748_ALICE_PUBLIC,
        ciphertext=expected,
        context=CONTEXT,
    )
    assert len(annex.ciphertext) == len(PLAINTEXT) + 16
    assert SUITE == "backchannel/seal/v1"


def test_seal_is_deterministic_in_its_inputs_and_fresh_ephemerals_differ() -> None:
    first = seal(PLAINTEXT, BOB.public_bytes, ephemeral=ALICE, context=CONTEXT)
    assert seal(PLAINTEXT, BOB.public_bytes, ephemeral=ALICE, context=CONTEXT) == first
    assert sealed().ciphertext != sealed().ciphertext


@pytest.mark.parametrize("plaintext", [b"", b"x", PLAINTEXT, bytes(range(256)) * 1000])
def test_round_trip(plaintext: bytes) -> None:
    annex = sealed(plaintext)
    assert annex.recipient_key_id == BOB.key_id
    assert open_sealed(annex, BOB, context=CONTEXT) == plaintext


def test_round_trip_at_the_size_limit_and_with_an_empty_or_maximal_context() -> None:
    assert open_sealed(sealed(b"\xab" * MAX_PLAINTEXT), BOB, context=CONTEXT) == b"\xab" * MAX_PLAINTEXT
    assert open_sealed(sealed(context=b""), BOB, context=b"") == PLAINTEXT
    big = b"c" * MAX_CONTEXT
    assert open_sealed(sealed(context=big), BOB, context=big) == PLAINTEXT


# --------------------------------------------------------------------------------------------------
# Refusals when opening
# --------------------------------------------------------------------------------------------------


def test_the_wrong_recipient_is_refused_by_key_id() -> None:
    with pytest.raises(VerificationError, match=f"sealed to {BOB.key_id}, not to {CAROL.key_id}"):
        open_sealed(sealed(), CAROL, context=CONTEXT)


def test_the_wrong_recipient_is_refused_by_the_cipher_even_under_a_forged_key_id() -> None:
    relabelled = dataclasses.replace(sealed(), recipient_key_id=CAROL.key_id)
    with pytest.raises(VerificationError, match="does not authenticate"):
        open_sealed(relabelled, CAROL, context=CONTEXT)


def test_the_wrong_context_is_refused() -> None:
    annex = sealed()
    with pytest.raises(VerificationError, match="sealed for another context"):
        open_sealed(annex, BOB, context=b"track:t1/message:m-43/to:delegation-b/alice")
    # Rewriting the carried context to match does not help: it is in the key derivation and the AAD.
    rewritten = dataclasses.replace(annex, context=b"track:t1/message:m-43/to:delegation-b/alice")
    with pytest.raises(VerificationError, match="does not authenticate"):
        open_sealed(rewritten, BOB, context=rewritten.context)


def test_every_ciphertext_byte_flipped_is_refused() -> None:
    annex = sealed()
    for i in range(len(annex.ciphertext)):
        for mask in (0x01, 0x80):
            flipped = bytearray(annex.ciphertext)
            flipped[i] ^= mask
            with pytest.raises(VerificationError, match="does not authenticate"):
                open_sealed(dataclasses.replace(annex, ciphertext=bytes(flipped)), BOB, context=CONTEXT)


def test_a_truncated_or_extended_ciphertext_is_refused() -> None:
    annex = sealed()
    for ciphertext in (annex.ciphertext[:-1], annex.ciphertext + b"\x00", annex.ciphertext[:16]):
        with pytest.raises(VerificationError, match="does not authenticate"):
            open_sealed(dataclasses.replace(annex, ciphertext=ciphertext), BOB, context=CONTEXT)


def test_every_ephemeral_key_byte_flipped_is_refused() -> None:
    """Even the top bit, which X25519 ignores: the raw key is in the HKDF salt."""
    annex = sealed()
    for i in range(32):
        for mask in (0x01, 0x80):
            flipped = bytearray(annex.ephemeral_public)
            flipped[i] ^= mask
            with pytest.raises(VerificationError):
                open_sealed(dataclasses.replace(annex, ephemeral_public=bytes(flipped)), BOB, context=CONTEXT)


@pytest.mark.parametrize("point", LOW_ORDER)
def test_a_low_order_ephemeral_key_is_refused(point: str) -> None:
    annex = dataclasses.replace(sealed(), ephemeral_public=bytes.fromhex(point))
    with pytest.raises(VerificationError, match="invalid X25519 peer public key"):
        open_sealed(annex, BOB, context=CONTEXT)


@pytest.mark.parametrize("point", LOW_ORDER)
def test_sealing_to_a_low_order_key_is_refused(point: str) -> None:
    with pytest.raises(VerificationError, match="invalid X25519 peer public key"):
        seal(PLAINTEXT, bytes.fromhex(point), ephemeral=generate_agreement_key(), context=CONTEXT)


# --------------------------------------------------------------------------------------------------
# Limits and argument checks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plaintext", "recipient", "context", "match"),
    [
        (
            b"\x00" * (MAX_PLAINTEXT + 1),
            BOB.public_bytes,
            CONTEXT,
            "plaintext: expected at most 16777216 bytes",
        ),
        ("text", BOB.public_bytes, CONTEXT, "plaintext: expected at most"),
        (PLAINTEXT, BOB.public_bytes[:31], CONTEXT, "recipient_public: expected a raw 32-byte"),
        (PLAINTEXT, BOB.to_text(), CONTEXT, "recipient_public: expected a raw 32-byte"),
        (PLAINTEXT, BOB.public_bytes, b"c" * (MAX_CONTEXT + 1), "context: expected at most 1024 bytes"),
        (PLAINTEXT, BOB.public_bytes, "context", "context: expected at most 1024 bytes"),
    ],
)
def test_seal_refuses_bad_arguments(plaintext, recipient, context, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        seal(plaintext, recipient, ephemeral=ALICE, context=context)


def test_open_refuses_a_malformed_expected_context() -> None:
    with pytest.raises(EncodingError, match="context: expected at most 1024 bytes"):
        open_sealed(sealed(), BOB, context=b"c" * (MAX_CONTEXT + 1))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"recipient_key_id": BOB.key_id.upper()}, "is not an x25519 key id"),
        ({"recipient_key_id": BOB.key_id.replace("x25519", "ed25519")}, "is not an x25519 key id"),
        ({"recipient_key_id": BOB.key_id + "0"}, "is not an x25519 key id"),
        ({"recipient_key_id": 7}, "is not an x25519 key id"),
        ({"ephemeral_public": bytes(31)}, "ephemeral_public: expected 32 bytes"),
        ({"ephemeral_public": "x" * 32}, "ephemeral_public: expected 32 bytes"),
        ({"ciphertext": bytes(15)}, "ciphertext: expected 16 to 16777232 bytes"),
        ({"ciphertext": bytes(MAX_PLAINTEXT + 17)}, "ciphertext: expected 16 to"),
        ({"ciphertext": bytearray(32)}, "ciphertext: expected 16 to"),
        ({"context": bytes(MAX_CONTEXT + 1)}, "context: expected at most 1024 bytes"),
        ({"context": None}, "context: expected at most"),
    ],
)
def test_a_malformed_annex_cannot_be_built(change, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        dataclasses.replace(sealed(), **change)


# --------------------------------------------------------------------------------------------------
# The dict form
# --------------------------------------------------------------------------------------------------


def test_dict_round_trip_through_json() -> None:
    annex = sealed()
    as_dict = annex.to_dict()
    assert as_dict == {
        "suite": "backchannel/seal/v1",
        "recipient_key_id": BOB.key_id,
        "ephemeral_public": b64encode(annex.ephemeral_public),
        "ciphertext": b64encode(annex.ciphertext),
        "context": b64encode(CONTEXT),
    }
    decoded = SealedAnnex.from_dict(json.loads(json.dumps(as_dict)))
    assert decoded == annex
    assert open_sealed(decoded, BOB, context=CONTEXT) == PLAINTEXT


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d | {"sender": "alice"}, r"unknown field\(s\) \['sender'\]"),
        (lambda d: d | {"nonce": "AAAA", "aad": ""}, r"unknown field\(s\) \['aad', 'nonce'\]"),
        (lambda d: {k: v for k, v in d.items() if k != "context"}, r"missing field\(s\) \['context'\]"),
        (lambda d: {k: v for k, v in d.items() if k != "suite"}, r"missing field\(s\) \['suite'\]"),
        (lambda d: d | {"suite": "backchannel/seal/v2"}, "unsupported suite 'backchannel/seal/v2'"),
        (lambda d: d | {"recipient_key_id": None}, "recipient_key_id: expected a string, got NoneType"),
        (lambda d: d | {"ciphertext": [1, 2]}, "ciphertext: expected a string, got list"),
        (
            lambda d: d | {"ephemeral_public": d["ephemeral_public"].rstrip("=")},
            "ephemeral_public: not valid",
        ),
        (lambda d: d | {"context": "Zm9v\n"}, "context: not valid base64"),
        (lambda d: d | {"ciphertext": d["ciphertext"] + "="}, "ciphertext: not valid base64"),
        (lambda d: d | {"context": "Zm9=", "suite": SUITE}, "context: base64 is not in canonical form"),
        (lambda d: d | {"ephemeral_public": "AAAA"}, "ephemeral_public: expected 32 bytes"),
        (lambda d: d | {"recipient_key_id": "x25519:abc"}, "is not an x25519 key id"),
    ],
)
def test_from_dict_is_strict(mutate, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        SealedAnnex.from_dict(mutate(sealed().to_dict()))


@pytest.mark.parametrize("value", [None, [], "annex", 3])
def test_from_dict_needs_an_object(value) -> None:
    with pytest.raises(EncodingError, match="sealed annex: expected a JSON object"):
        SealedAnnex.from_dict(value)
