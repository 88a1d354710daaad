import base64

import pytest

from backchannel.errors import EncodingError, VerificationError
from backchannel.log.checkpoint import Checkpoint, NoteSignature, NoteSigner, NoteVerifier, SignedCheckpoint
from backchannel.log.signing import SigningKey

# Known-answer vector of the C2SP signed-note reference implementation
# (golang.org/x/mod/sumdb/note, note_test.go / package documentation).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY_BLOB = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || Ed25519 seed
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG_LINE = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="

ROOT = bytes(range(32))


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner("log.example/test", SigningKey.from_seed(b"\x07" * 32))


def test_go_reference_vector_key_hash_and_signature() -> None:
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_hash.hex() == "c74f20a3"
    assert verifier.to_vkey() == GO_VKEY
    sig = NoteSignature.from_line(GO_SIG_LINE)
    assert verifier.is_valid_for(GO_TEXT, sig)
    assert not verifier.is_valid_for(GO_TEXT.replace(b"answer", b"Answer"), sig)
    seed = base64.b64decode(GO_SKEY_BLOB)[1:]
    ours = NoteSigner("PeterNeumann", SigningKey.from_seed(seed)).sign_bytes(GO_TEXT)
    assert ours.to_line() == GO_SIG_LINE


def test_checkpoint_text_round_trip(signer: NoteSigner) -> None:
    checkpoint = Checkpoint("log.example/test/t1", 42, ROOT, ("ext one", "ext two"))
    note = signer.sign(checkpoint)
    text = note.to_text()
    assert text.startswith(
        f"log.example/test/t1\n42\n{base64.b64encode(ROOT).decode()}\next one\next two\n\n\u2014 "
    )
    parsed = SignedCheckpoint.from_text(text)
    assert parsed == note
    assert parsed.to_text() == text
    assert signer.verifier.verify(parsed) == checkpoint
    assert Checkpoint.from_bytes(checkpoint.to_bytes()) == checkpoint


def test_verify_ignores_unknown_signatures_and_fails_closed(signer: NoteSigner) -> None:
    checkpoint = Checkpoint("o", 1, ROOT)
    other = NoteSigner("witness.example", SigningKey.from_seed(b"\x08" * 32))
    note = other.sign(checkpoint).with_signature(signer.signature(checkpoint))
    assert signer.verifier.verify(note) == checkpoint
    with pytest.raises(VerificationError, match="no signature by log.example/test"):
        signer.verifier.verify(other.sign(checkpoint))


def test_verify_refuses_altered_size_root_or_signature(signer: NoteSigner) -> None:
    note = signer.sign(Checkpoint("o", 5, ROOT))
    for altered in (
        SignedCheckpoint(Checkpoint("o", 6, ROOT), note.signatures),
        SignedCheckpoint(Checkpoint("o", 5, bytes(32)), note.signatures),
        SignedCheckpoint(Checkpoint("p", 5, ROOT), note.signatures),
    ):
        with pytest.raises(VerificationError, match="does not verify"):
            signer.verifier.verify(altered)
    sig = note.signatures[0]
    flipped = NoteSignature(sig.name, sig.key_hash, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    with pytest.raises(VerificationError, match="does not verify"):
        signer.verifier.verify(SignedCheckpoint(note.checkpoint, (flipped,)))


def test_same_name_other_key_is_not_accepted(signer: NoteSigner) -> None:
    impostor = NoteSigner(signer.name, SigningKey.from_seed(b"\x09" * 32))
    with pytest.raises(VerificationError, match="no signature"):
        signer.verifier.verify(impostor.sign(Checkpoint("o", 1, ROOT)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": ""}, "origin"),
        ({"origin": "a\nb"}, "origin"),
        ({"size": -1}, "size"),
        ({"size": True}, "size"),
        ({"root": b"short"}, "root"),
        ({"extensions": ("",)}, "extension"),
        ({"extensions": ("a\nb",)}, "extension"),
    ],
)
def test_checkpoint_fields_validated(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"origin": "o", "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(EncodingError, match=message):
        Checkpoint(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\n", "UTF-8"),
        (b"o\n1\n", "newline|origin, size and root"),
        (b"o\n1", "newline"),
        (b"o\n01\n" + base64.b64encode(ROOT) + b"\n", "decimal"),
        (b"o\n-1\n" + base64.b64encode(ROOT) + b"\n", "decimal"),
        (b"o\n\xd9\xa1\n" + base64.b64encode(ROOT) + b"\n", "decimal"),
        (b"o\n1\nAAAA\n", "32 bytes"),
    ],
)
def test_checkpoint_body_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        Checkpoint.from_bytes(body)


def test_zero_size_parses() -> None:
    assert Checkpoint.from_bytes(b"o\n0\n" + base64.b64encode(ROOT) + b"\n").size == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n", "blank line"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n", "at least one signature"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\nno dash line\n", "malformed"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 name !!!!\n", "base64"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 name AAAA\n", "too short"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 na+me AAAAAAAA\n", "name"),
        ("x" * 70000, "64 KiB"),
    ],
)
def test_signed_note_parse_errors(text: str, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        SignedCheckpoint.from_text(text)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("only+two", "name\\+keyhash\\+base64key"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+", "base64"),
        ("PeterNeumann+c74f20a3+AhpZ2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Ed25519"),
        ("PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key hash does not match"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "no spaces"),
        ("PeterNeumann+c74f20a3+ARpc", "33 bytes"),
    ],
)
def test_vkey_parse_errors(vkey: str, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        NoteVerifier.from_vkey(vkey)


def test_signer_name_validated_and_repr_hides_key() -> None:
    key = SigningKey.from_seed(b"\x05" * 32)
    with pytest.raises(EncodingError, match="no spaces"):
        NoteSigner("bad name", key)
    signer = NoteSigner("ok", key)
    assert key.key_id in repr(signer)
    assert key.private_bytes_unsafe().hex() not in repr(signer)


def test_vkey_whose_base64_contains_plus_round_trips() -> None:
    # issue found by the golden vectors: the key's base64 may contain '+'
    for seed in range(64):
        verifier = NoteSigner("log.example", SigningKey.from_seed(bytes([seed]) * 32)).verifier
        assert NoteVerifier.from_vkey(verifier.to_vkey()) == verifier
