"""Ed25519 / X25519 keys, key ids and strict base64: RFC vectors and refusals."""

import base64
import hashlib
import re

import pytest

from backchannel.errors import EncodingError, VerificationError
from backchannel.log._checks import is_bytes_of, is_natural, is_text
from backchannel.log.signing import (
    AgreementKey,
    SigningKey,
    VerifyingKey,
    b64decode,
    b64encode,
    key_id,
)
from backchannel.protocol.keyfile import generate_agreement_key, generate_signing_key

# --------------------------------------------------------------------------------------------------
# RFC 8032 "Edwards-Curve Digital Signature Algorithm (EdDSA)", §7.1 "Test Vectors for Ed25519":
# TEST 1, TEST 2, TEST 3 and TEST SHA(abc), transcribed from the RFC (SECRET KEY is the 32-byte seed).
# --------------------------------------------------------------------------------------------------

RFC8032_VECTORS = {
    "TEST 1": (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    "TEST 2": (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    "TEST 3": (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    "TEST SHA(abc)": (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        (
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        ),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
}

# RFC 7748 "Elliptic Curves for Security", §6.1 "Curve25519": the Diffie-Hellman example.
RFC7748_ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC7748_ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
RFC7748_BOB_PRIVATE = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
RFC7748_BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
RFC7748_SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


def vector(name: str) -> tuple[bytes, bytes, bytes, bytes]:
    seed, pub, msg, sig = RFC8032_VECTORS[name]
    return bytes.fromhex(seed), bytes.fromhex(pub), bytes.fromhex(msg), bytes.fromhex(sig)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_rfc8032_sha_abc_message_is_sha512_of_abc() -> None:
    assert vector("TEST SHA(abc)")[2] == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("name", list(RFC8032_VECTORS))
def test_rfc8032_ed25519_vectors(name: str) -> None:
    seed, pub, msg, sig = vector(name)
    key = SigningKey.from_seed(seed)
    assert key.verifying_key.public_bytes == pub
    assert key.private_bytes_unsafe() == seed
    assert key.sign(msg) == sig  # Ed25519 is deterministic
    assert key.sign(msg) == sig
    VerifyingKey(pub).verify(sig, msg)
    assert VerifyingKey(pub).is_valid(sig, msg) is True
    assert key.key_id == VerifyingKey(pub).key_id == key_id("ed25519", pub)


@pytest.mark.parametrize("name", list(RFC8032_VECTORS))
@pytest.mark.parametrize("bit", [0, 7, 100, 255])
def test_rfc8032_ed25519_tampering_is_refused(name: str, bit: int) -> None:
    _, pub, msg, sig = vector(name)
    cases = {
        "signature R": (pub, flip(sig, bit), msg),
        "signature S": (pub, flip(sig, 256 + bit), msg),
        "key": (flip(pub, bit), sig, msg),
        "message": (pub, sig, flip(msg, bit % (8 * len(msg))) if msg else b"\x00"),
        "message extended": (pub, sig, msg + b"\x00"),
    }
    for what, (p, s, m) in cases.items():
        with pytest.raises(VerificationError, match="Ed25519 signature does not verify for key ed25519:"):
            VerifyingKey(p).verify(s, m)
        assert VerifyingKey(p).is_valid(s, m) is False, what


@pytest.mark.parametrize("length", [0, 63, 65])
def test_wrong_length_signature_is_refused(length: int) -> None:
    _, pub, msg, sig = vector("TEST 1")
    bad = (sig * 2)[:length]
    with pytest.raises(VerificationError, match="does not verify") as info:
        VerifyingKey(pub).verify(bad, msg)
    assert info.value.__cause__ is not None
    assert VerifyingKey(pub).is_valid(bad, msg) is False


@pytest.mark.parametrize("signature", ["not bytes", None, 64])
def test_non_bytes_signature_is_refused(signature: object) -> None:
    _, pub, msg, _ = vector("TEST 1")
    with pytest.raises(VerificationError, match="does not verify"):
        VerifyingKey(pub).verify(signature, msg)  # type: ignore[arg-type]
    assert VerifyingKey(pub).is_valid(signature, msg) is False  # type: ignore[arg-type]


def test_signature_from_another_key_is_refused() -> None:
    _, _, msg, sig = vector("TEST 1")
    _, other_pub, _, _ = vector("TEST 2")
    assert VerifyingKey(other_pub).is_valid(sig, msg) is False


def test_generated_keys_sign_and_verify_and_differ() -> None:
    a, b = generate_signing_key(), generate_signing_key()
    assert a.key_id != b.key_id
    sig = a.sign(b"hello")
    assert len(sig) == 64
    a.verifying_key.verify(sig, b"hello")
    assert not b.verifying_key.is_valid(sig, b"hello")


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_signing_key_from_seed_refuses_wrong_length(length: int) -> None:
    with pytest.raises(EncodingError, match=f"ed25519 seed must be 32 bytes, got {length}"):
        SigningKey.from_seed(b"\x01" * length)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_verifying_key_refuses_wrong_length(length: int) -> None:
    with pytest.raises(EncodingError, match=f"ed25519 public key must be 32 bytes, got {length}"):
        VerifyingKey(b"\x01" * length)


def test_verifying_key_text_round_trip() -> None:
    _, pub, _, _ = vector("TEST 1")
    vk = VerifyingKey(pub)
    text = vk.to_text()
    assert text == base64.b64encode(pub).decode()
    assert text == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    assert VerifyingKey.from_text(text) == vk
    assert VerifyingKey.from_text(text).public_bytes == pub


def test_verifying_key_from_text_refuses_wrong_length_and_names_the_field() -> None:
    with pytest.raises(EncodingError, match="^public_key: expected 32 bytes, got 31$"):
        VerifyingKey.from_text(b64encode(b"\x00" * 31))
    with pytest.raises(EncodingError, match="^signer.key: expected 32 bytes, got 33$"):
        VerifyingKey.from_text(b64encode(b"\x00" * 33), field="signer.key")
    with pytest.raises(EncodingError, match="^public_key: not valid base64"):
        VerifyingKey.from_text("not base64!")


# --------------------------------------------------------------------------------------------------
# X25519 (RFC 7748 §6.1)
# --------------------------------------------------------------------------------------------------


def test_rfc7748_x25519_vector() -> None:
    alice = AgreementKey.from_private_bytes(RFC7748_ALICE_PRIVATE)
    bob = AgreementKey.from_private_bytes(RFC7748_BOB_PRIVATE)
    assert alice.public_bytes == RFC7748_ALICE_PUBLIC
    assert bob.public_bytes == RFC7748_BOB_PUBLIC
    assert alice.exchange(RFC7748_BOB_PUBLIC) == RFC7748_SHARED
    assert bob.exchange(RFC7748_ALICE_PUBLIC) == RFC7748_SHARED
    assert alice.private_bytes_unsafe() == RFC7748_ALICE_PRIVATE
    assert alice.to_text() == base64.b64encode(RFC7748_ALICE_PUBLIC).decode()
    assert alice.key_id == key_id("x25519", RFC7748_ALICE_PUBLIC)


@pytest.mark.parametrize(
    "peer",
    [
        bytes(32),  # all zeros: low order, shared secret would be zero
        bytes([1]) + bytes(31),  # u = 1: low order
        b"\x00" * 31,  # wrong length
        b"\x00" * 33,
    ],
)
def test_x25519_refuses_low_order_or_malformed_peer(peer: bytes) -> None:
    alice = AgreementKey.from_private_bytes(RFC7748_ALICE_PRIVATE)
    with pytest.raises(VerificationError, match="invalid X25519 peer public key") as info:
        alice.exchange(peer)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_agreement_key_refuses_wrong_length(length: int) -> None:
    with pytest.raises(EncodingError, match=f"x25519 private key must be 32 bytes, got {length}"):
        AgreementKey.from_private_bytes(b"\x02" * length)


def test_generated_agreement_keys_agree() -> None:
    a, b = generate_agreement_key(), generate_agreement_key()
    assert a.key_id != b.key_id
    assert a.exchange(b.public_bytes) == b.exchange(a.public_bytes)


# --------------------------------------------------------------------------------------------------
# key ids
# --------------------------------------------------------------------------------------------------


def test_key_id_format_and_derivation() -> None:
    _, pub, _, _ = vector("TEST 1")
    kid = key_id("ed25519", pub)
    assert re.fullmatch(r"ed25519:[0-9a-f]{32}", kid)
    assert len(kid) == 40
    # documented derivation: first 16 bytes of SHA-256(domain tag || public key), lowercase hex
    assert kid == "ed25519:" + hashlib.sha256(b"backchannel/key-id/ed25519\n" + pub).hexdigest()[:32]
    assert key_id("ed25519", pub) == kid  # deterministic
    assert key_id("ed25519", flip(pub, 0)) != kid


def test_key_id_differs_between_algorithms_for_the_same_bytes() -> None:
    raw = bytes(range(32))
    ed, x = key_id("ed25519", raw), key_id("x25519", raw)
    assert re.fullmatch(r"x25519:[0-9a-f]{32}", x)
    assert ed.split(":")[1] != x.split(":")[1]


@pytest.mark.parametrize("algorithm", ["ed448", "ED25519", "", "rsa"])
def test_key_id_refuses_unknown_algorithm(algorithm: str) -> None:
    with pytest.raises(EncodingError, match="unknown key algorithm"):
        key_id(algorithm, bytes(32))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_key_id_refuses_wrong_length(length: int) -> None:
    with pytest.raises(EncodingError, match=f"x25519 public key must be 32 bytes, got {length}"):
        key_id("x25519", bytes(length))


# --------------------------------------------------------------------------------------------------
# strict base64
# --------------------------------------------------------------------------------------------------


def test_b64_round_trip() -> None:
    for data in [b"", b"\x00", b"\xff\xfe", bytes(range(256))]:
        assert b64decode(b64encode(data), field="f") == data
    assert b64encode(b"\xfb\xff") == "+/8="  # standard alphabet, padded
    assert b64decode("AA==", field="f", length=1) == b"\x00"


@pytest.mark.parametrize("value", [b"AA==", None, 12, ["AA=="]])
def test_b64decode_refuses_non_str(value: object) -> None:
    with pytest.raises(EncodingError, match=f"^sig: expected a base64 string, got {type(value).__name__}$"):
        b64decode(value, field="sig")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "A",  # bad length
        "AA=",  # bad padding
        "!!!!",  # not in the alphabet
        "AA==AA==",  # data after padding
        "-_8=",  # URL-safe alphabet
        "AA ==",  # whitespace
        "\u00e9\u00e9==",  # not ASCII
    ],
)
def test_b64decode_refuses_invalid_base64(text: str) -> None:
    with pytest.raises(EncodingError, match="^envelope.sig: not valid base64") as info:
        b64decode(text, field="envelope.sig")
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("text", ["AB==", "AAB=", "AP==", "/x=="])  # unused trailing bits set
def test_b64decode_refuses_non_canonical_base64(text: str) -> None:
    with pytest.raises(EncodingError, match="^pub: base64 is not in canonical form$"):
        b64decode(text, field="pub")


def test_b64decode_refuses_unpadded_base64() -> None:
    with pytest.raises(EncodingError, match="^pub: not valid base64"):
        b64decode("AA", field="pub")


def test_b64decode_refuses_wrong_length() -> None:
    with pytest.raises(EncodingError, match="^key: expected 32 bytes, got 1$"):
        b64decode("AA==", field="key", length=32)


# --------------------------------------------------------------------------------------------------
# private material never shows
# --------------------------------------------------------------------------------------------------


def _private_renderings(raw: bytes) -> list[str]:
    return [
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        repr(raw),
    ]


def test_signing_key_repr_shows_key_id_not_private_bytes() -> None:
    seed, _, _, _ = vector("TEST 1")
    key = SigningKey.from_seed(seed)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert key.key_id in text
        assert text.startswith(("SigningKey(", "[SigningKey("))
        for secret in _private_renderings(seed):
            assert secret not in text


def test_agreement_key_repr_shows_key_id_not_private_bytes() -> None:
    key = AgreementKey.from_private_bytes(RFC7748_ALICE_PRIVATE)
    for text in (repr(key), str(key), f"{key}"):
        assert key.key_id in text
        assert text.startswith("AgreementKey(")
        for secret in _private_renderings(RFC7748_ALICE_PRIVATE):
            assert secret not in text


def test_private_keys_have_no_instance_dict() -> None:
    # __slots__: nothing like vars(key) or a stray attribute can leak the key
    for key in (generate_signing_key(), generate_agreement_key()):
        assert not hasattr(key, "__dict__")


# --------------------------------------------------------------------------------------------------
# _checks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (1, True),
        (2**80, True),
        (-1, False),
        (True, False),
        (False, False),
        (1.0, False),
        ("1", False),
    ],
)
def test_is_natural(value: object, expected: bool) -> None:
    assert is_natural(value) is expected


@pytest.mark.parametrize(
    ("value", "length", "expected"),
    [
        (b"\x00" * 32, 32, True),
        (b"", 0, True),
        (b"\x00" * 31, 32, False),
        (bytearray(32), 32, False),
        ("x" * 32, 32, False),
        (memoryview(bytes(32)), 32, False),
    ],
)
def test_is_bytes_of(value: object, length: int, expected: bool) -> None:
    assert is_bytes_of(value, length) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("", True), ("a", True), (b"a", False), (None, False), (1, False)]
)
def test_is_text(value: object, expected: bool) -> None:
    assert is_text(value) is expected
