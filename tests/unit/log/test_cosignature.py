"""C2SP tlog-cosignature (cosignature/v1): byte formats, verification and the witness quorum policy."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backchannel.errors import ConfigurationError, EncodingError, VerificationError
from backchannel.log.checkpoint import Checkpoint, NoteSignature, NoteSigner, NoteVerifier, SignedCheckpoint
from backchannel.log.cosignature import (
    COSIGNATURE_V1,
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    InsufficientCosignaturesError,
    WitnessPolicy,
    cosignature_key_id,
    cosigned_message,
)
from backchannel.log.signing import SigningKey

# The example of the C2SP tlog-cosignature spec (c2sp.org/tlog-cosignature, "Ed25519 signed message").
SPEC_CHECKPOINT = Checkpoint(
    "example.com/behind-the-sofa", 20852163, base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
)
SPEC_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
# The spec's example cosignature line (its key is not published: only its layout is checked).
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
    "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
# Public verifier keys from transparency-dev/formats note/note_cosigv1_test.go (TestCoSigV1NewVerifier):
# a native cosignature/v1 vkey (type 0x04) and a plain Ed25519 note vkey (type 0x01) used as a cosigner.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
# transparency-dev/formats TestCoSigV1Timestamp: this signature blob carries timestamp 1727964367.
FORMATS_BLOB = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
)

# Our golden vector: seed 00 01 .. 1f, name witness.example/w1, the spec's checkpoint and time.
# Derived from the spec's byte recipe; test_golden_vector_matches_an_independent_derivation
# rebuilds it with pyca/cryptography alone.
GOLDEN_SEED = bytes(range(32))
GOLDEN_NAME = "witness.example/w1"
GOLDEN_VKEY = "witness.example/w1+e75f6532+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
GOLDEN_LINE = (
    "\u2014 witness.example/w1 519lMgAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUIoS83rE1nFZsVE8YiWV6N"
    "gr7lV8H6bdoBQGP/l73euDMQ9k+bBQ=="
)
TIME = 1679315147

LOG = NoteSigner("log.example", SigningKey.from_seed(b"\x01" * 32))
ROOT = bytes(range(32))


def witness(n: int) -> CosignatureSigner:
    return CosignatureSigner(f"w{n}.example", SigningKey.from_seed(bytes([n]) * 32))


def test_the_signed_message_is_the_specs_example_byte_for_byte() -> None:
    assert cosigned_message(SPEC_CHECKPOINT, TIME) == SPEC_MESSAGE
    assert SPEC_MESSAGE.startswith(COSIGNATURE_V1)
    extended = Checkpoint("o", 1, ROOT, ("ext",))
    assert cosigned_message(extended, 0).endswith(b"\next\n")  # extension lines are covered
    assert cosigned_message(extended, 0).startswith(b"cosignature/v1\ntime 0\no\n")


def test_the_specs_example_line_parses() -> None:
    cosignature = Cosignature.from_line(SPEC_LINE)
    assert cosignature.name == "witness.example.com/w1"
    assert cosignature.key_id.hex() == "8d66cf3f"
    assert cosignature.timestamp == TIME  # the time the spec's example message names
    assert cosignature.to_line() == SPEC_LINE


def test_key_ids_match_transparency_dev_formats() -> None:
    remora = CosignatureVerifier.from_vkey(REMORA_VKEY)
    assert remora.name == "remora.n621.de"
    assert remora.key_id.hex() == "da77ade7"
    assert remora.to_vkey() == REMORA_VKEY
    plain = CosignatureVerifier.from_vkey(TEST_VKEY)  # a 0x01 vkey: its hash is checked as type 0x01
    assert NoteVerifier.from_vkey(TEST_VKEY).key == plain.key
    assert plain.key_id == cosignature_key_id("TEST", plain.key.public_bytes)
    assert plain.key_id.hex() != "7997405c"  # the cosignature key ID uses type 0x04
    assert plain.to_vkey().startswith(f"TEST+{plain.key_id.hex()}+B")


def test_a_timestamp_decodes_like_transparency_dev_formats() -> None:
    blob = base64.b64decode(FORMATS_BLOB)
    note_signature = NoteSignature("formats", blob[:4], blob[4:])
    assert Cosignature.from_note_signature(note_signature).timestamp == 1727964367


def test_golden_vector() -> None:
    signer = CosignatureSigner(GOLDEN_NAME, SigningKey.from_seed(GOLDEN_SEED))
    assert signer.verifier.to_vkey() == GOLDEN_VKEY
    cosignature = signer.cosign(SPEC_CHECKPOINT, TIME)
    assert cosignature.to_line() == GOLDEN_LINE
    assert Cosignature.from_line(GOLDEN_LINE) == cosignature
    note = SignedCheckpoint(SPEC_CHECKPOINT, (cosignature.to_note_signature(),))
    assert CosignatureVerifier.from_vkey(GOLDEN_VKEY).verify(note) == cosignature


def test_golden_vector_matches_an_independent_derivation() -> None:
    """Rebuild the golden line from the spec's recipe with pyca/cryptography and hashlib only."""
    private = Ed25519PrivateKey.from_private_bytes(GOLDEN_SEED)
    public = private.public_key().public_bytes_raw()
    key_id = hashlib.sha256(GOLDEN_NAME.encode() + b"\n\x04" + public).digest()[:4]
    signature = private.sign(SPEC_MESSAGE)
    blob = key_id + TIME.to_bytes(8, "big") + signature
    assert f"\u2014 {GOLDEN_NAME} {base64.b64encode(blob).decode()}" == GOLDEN_LINE
    typed_key = base64.b64encode(b"\x04" + public).decode()
    assert f"{GOLDEN_NAME}+{key_id.hex()}+{typed_key}" == GOLDEN_VKEY


def test_cosigned_notes_still_verify_under_the_log_key_and_lines_round_trip() -> None:
    checkpoint = Checkpoint("log.example/t", 7, ROOT)
    note = LOG.sign(checkpoint).with_signature(witness(2).cosign(checkpoint, 5).to_note_signature())
    parsed = SignedCheckpoint.from_text(note.to_text())
    assert parsed == note
    assert LOG.verifier.verify(parsed) == checkpoint  # cosignature lines are ignored by the log verifier
    assert witness(2).verifier.verify(parsed).timestamp == 5


def test_verify_fails_closed() -> None:
    checkpoint = Checkpoint("o", 3, ROOT)
    w = witness(2)
    good = w.cosign(checkpoint, 10).to_note_signature()
    with pytest.raises(VerificationError, match=r"no cosignature by w2\.example"):
        w.verifier.verify(LOG.sign(checkpoint))
    other = SignedCheckpoint(Checkpoint("o", 3, bytes(32)), (good,))  # another root
    with pytest.raises(VerificationError, match="does not verify"):
        w.verifier.verify(other)
    wrong_size = NoteSignature(w.name, w.verifier.key_id, b"\x00" * 10)  # claims the key, malformed blob
    assert not w.verifier.is_valid_for(checkpoint, wrong_size)
    with pytest.raises(VerificationError, match="does not verify"):
        w.verifier.verify(SignedCheckpoint(checkpoint, (good, wrong_size)))
    assert not w.verifier.is_valid_for(checkpoint, witness(3).cosign(checkpoint, 10).to_note_signature())


def test_the_newest_of_several_cosignatures_is_returned() -> None:
    checkpoint = Checkpoint("o", 3, ROOT)
    w = witness(2)
    lines = (w.cosign(checkpoint, 10).to_note_signature(), w.cosign(checkpoint, 30).to_note_signature())
    assert w.verifier.verify(SignedCheckpoint(checkpoint, lines)).timestamp == 30


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": "has space"}, "cosignature name"),
        ({"name": "a+b"}, "cosignature name"),
        ({"name": 7}, "cosignature name"),
        ({"key_id": b"\x00" * 3}, "key ID"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": MAX_TIMESTAMP + 1}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"signature": b"\x00" * 63}, "signature"),
    ],
)
def test_malformed_cosignatures_are_refused(fields: dict[str, object], error: str) -> None:
    good: dict[str, object] = {"name": "w", "key_id": b"\x00" * 4, "timestamp": 0, "signature": b"\x00" * 64}
    with pytest.raises(EncodingError, match=error):
        Cosignature(**{**good, **fields})  # type: ignore[arg-type]


def test_the_largest_timestamp_is_accepted_and_a_larger_one_refused() -> None:
    checkpoint = Checkpoint("o", 1, ROOT)
    w = witness(2)
    top = w.cosign(checkpoint, MAX_TIMESTAMP)
    assert Cosignature.from_line(top.to_line()) == top
    with pytest.raises(EncodingError, match="timestamp"):
        w.cosign(checkpoint, MAX_TIMESTAMP + 1)
    blob = top.key_id + (MAX_TIMESTAMP + 1).to_bytes(8, "big") + top.signature
    with pytest.raises(EncodingError, match="timestamp"):
        Cosignature.from_line(f"\u2014 {w.name} {base64.b64encode(blob).decode()}")


def test_a_log_signature_is_not_a_cosignature() -> None:
    with pytest.raises(EncodingError, match="expected 76 bytes"):
        Cosignature.from_note_signature(LOG.signature(Checkpoint("o", 1, ROOT)))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("name+abcd", "expected name"),
        ("name+00000000+!!", "base64"),
        ("name+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(), "neither 0x04"),
        ("name+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(), "key hash does not match"),
        (REMORA_VKEY.replace("remora", "Remora"), "key hash does not match"),
        ("bad name+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(), "cosigner name"),
    ],
)
def test_malformed_vkeys_are_refused(text: str, error: str) -> None:
    with pytest.raises(EncodingError, match=error):
        CosignatureVerifier.from_vkey(text)


def test_signer_repr_hides_the_key() -> None:
    signer = witness(2)
    assert "w2.example" in repr(signer)
    assert "ed25519:" in repr(signer)


# --- the policy -------------------------------------------------------------------------------------


def cosigned(checkpoint: Checkpoint, *signers: CosignatureSigner) -> SignedCheckpoint:
    note = LOG.sign(checkpoint)
    for signer in signers:
        note = note.with_signature(signer.cosign(checkpoint, 100).to_note_signature())
    return note


def test_a_quorum_of_known_witnesses_is_required() -> None:
    checkpoint = Checkpoint("log.example/t", 9, ROOT)
    w1, w2, w3, stranger = witness(1), witness(2), witness(3), witness(4)
    policy = WitnessPolicy.of([w1.verifier, w2.verifier, w3.verifier], 2)
    result = policy.require(cosigned(checkpoint, w1, stranger, w3))
    assert result.valid == ("w1.example", "w3.example")
    assert result.missing == ("w2.example",)
    assert result.invalid == ()
    assert result.satisfied
    with pytest.raises(InsufficientCosignaturesError) as info:
        policy.require(cosigned(checkpoint, w1, stranger), origin="track t")
    error = info.value
    assert (error.size, error.found, error.required) == (9, 1, 2)
    assert "1 valid cosignature(s) from known witnesses (w1.example); 2 required" in str(error)
    assert "track t" in str(error)
    assert SignedCheckpoint.from_text(error.note).checkpoint == checkpoint


def test_a_forged_line_under_a_known_name_counts_as_invalid_never_valid() -> None:
    checkpoint = Checkpoint("log.example/t", 9, ROOT)
    w1, w2 = witness(1), witness(2)
    other = Checkpoint("log.example/t", 9, bytes(32))
    forged = w1.cosign(other, 100).to_note_signature()  # w1's real signature, but of another root
    note = LOG.sign(checkpoint).with_signature(forged)
    note = note.with_signature(w2.cosign(checkpoint, 100).to_note_signature())
    policy = WitnessPolicy.of([w1.verifier, w2.verifier], 2)
    result = policy.check(note)
    assert (result.valid, result.invalid) == (("w2.example",), ("w1.example",))
    with pytest.raises(InsufficientCosignaturesError, match=r"invalid: w1\.example") as info:
        policy.require(note)
    assert info.value.note.endswith("\n")
    assert "log.example/t" in str(info.value)
    assert WitnessPolicy.of([], 0).require(LOG.sign(checkpoint)).describe().startswith("0 valid")


@pytest.mark.parametrize("quorum", [-1, 3, True])
def test_a_policy_that_can_never_be_met_is_a_configuration_error(quorum: int) -> None:
    with pytest.raises(ConfigurationError, match="quorum"):
        WitnessPolicy.of([witness(1).verifier, witness(2).verifier], quorum)


def test_duplicate_witness_names_are_a_configuration_error() -> None:
    a = witness(1).verifier
    b = CosignatureVerifier(a.name, witness(2).verifier.key)
    with pytest.raises(ConfigurationError, match="duplicate"):
        WitnessPolicy.of([a, b], 1)
