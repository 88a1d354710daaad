r"""Signed tree heads in the C2SP ``tlog-checkpoint`` / ``signed-note`` format.

A checkpoint body is three lines (origin, decimal tree size, base64 root hash)
plus optional extension lines; a signed note appends a blank line and one line
per signature::

    example.org/backchannel/us-iran-nuclear
    42
    3q2+7w...=

    — example.org/backchannel 1a2b3c4d...base64(key hash || signature)...

Ed25519 key hashes follow C2SP signed-note: the first 4 bytes of
``SHA-256(name || "\n" || 0x01 || public key)``. A verifier key is written as
``name+hex(key hash)+base64(0x01 || public key)`` ("vkey").

A tree size proves nothing alone: :meth:`NoteVerifier.verify` must succeed
before (size, root) is trusted. Signatures by unknown keys are ignored, as the
spec says; a note with no signature by the expected key fails closed.

This module does not compute roots or check consistency between checkpoints
(see :mod:`backchannel.log.merkle` and :mod:`backchannel.log.verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from backchannel.errors import EncodingError, VerificationError
from backchannel.log._checks import is_bytes_of, is_natural, is_text
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode, b64encode

__all__ = ["Checkpoint", "NoteSignature", "NoteSigner", "NoteVerifier", "SignedCheckpoint"]

_ED25519_TYPE = b"\x01"
_EM_DASH = "\u2014"
_NAME = re.compile(r"[^\s+]+")
_MAX_NOTE_BYTES = 1 << 16


def _key_hash(name: str, public_bytes: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519_TYPE + public_bytes).digest()[:4]


def _check_name(name: str, what: str) -> str:
    if not is_text(name) or not _NAME.fullmatch(name):
        raise EncodingError(f"{what}: {name!r} must be non-empty with no spaces or '+'")
    return name


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The unsigned body of a checkpoint: origin, tree size, root hash, extensions."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate the fields (raises :class:`EncodingError` naming the field)."""
        if not is_text(self.origin) or not self.origin or "\n" in self.origin:
            raise EncodingError("checkpoint origin: must be a non-empty single line")
        if not is_natural(self.size):
            raise EncodingError(f"checkpoint size: expected an integer >= 0, got {self.size!r}")
        if not is_bytes_of(self.root, 32):
            raise EncodingError("checkpoint root: expected a 32-byte SHA-256 hash")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise EncodingError("checkpoint extension: must be a non-empty single line")

    def to_bytes(self) -> bytes:
        """The note text that signatures cover (every line newline-terminated)."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        """Parse a checkpoint body.

        Raises:
            EncodingError: missing lines, a non-decimal size, a bad root.
        """
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise EncodingError("checkpoint: not valid UTF-8") from e
        if not text.endswith("\n"):
            raise EncodingError("checkpoint: body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise EncodingError("checkpoint: expected origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
            raise EncodingError(f"checkpoint size: {size_text!r} is not a decimal integer")
        root = b64decode(root_text, field="checkpoint root", length=32)
        return cls(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a signed note."""

    name: str
    key_hash: bytes
    signature: bytes

    def to_line(self) -> str:
        """The ``— name base64`` line, without the newline."""
        return f"{_EM_DASH} {self.name} {b64encode(self.key_hash + self.signature)}"

    @classmethod
    def from_line(cls, line: str) -> NoteSignature:
        """Parse a signature line.

        Raises:
            EncodingError: not ``— name base64`` or a blob shorter than 5 bytes.
        """
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _EM_DASH:
            raise EncodingError(f"checkpoint signature line is malformed: {line[:80]!r}")
        name = _check_name(parts[1], "checkpoint signature name")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error as e:
            raise EncodingError("checkpoint signature: not valid base64") from e
        if len(blob) < 5:
            raise EncodingError("checkpoint signature: too short to hold a key hash and signature")
        return cls(name=name, key_hash=blob[:4], signature=blob[4:])


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with one or more signature lines (the log's, then witnesses')."""

    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...] = field(default=())

    def to_text(self) -> str:
        """The whole signed note as text."""
        sig_lines = "".join(sig.to_line() + "\n" for sig in self.signatures)
        return self.checkpoint.to_bytes().decode("utf-8") + "\n" + sig_lines

    @classmethod
    def from_text(cls, text: str) -> SignedCheckpoint:
        """Parse a signed note.

        Raises:
            EncodingError: no blank separator line, no signatures, malformed lines,
                or a note over 64 KiB.
        """
        if len(text.encode("utf-8", "surrogatepass")) > _MAX_NOTE_BYTES:
            raise EncodingError("checkpoint: note larger than 64 KiB")
        body, sep, sigs = text.partition("\n\n")
        if not sep:
            raise EncodingError("checkpoint: no blank line between body and signatures")
        if not sigs.endswith("\n") or not sigs.strip():
            raise EncodingError("checkpoint: a signed note needs at least one signature line")
        checkpoint = Checkpoint.from_bytes((body + "\n").encode("utf-8"))
        signatures = tuple(NoteSignature.from_line(line) for line in sigs[:-1].split("\n"))
        return cls(checkpoint=checkpoint, signatures=signatures)

    def with_signature(self, signature: NoteSignature) -> SignedCheckpoint:
        """Return a copy with one more signature (a witness co-signature)."""
        return SignedCheckpoint(self.checkpoint, (*self.signatures, signature))


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """Verifies signed notes by one named Ed25519 key."""

    name: str
    key: VerifyingKey

    def __post_init__(self) -> None:
        """Validate the key name."""
        _check_name(self.name, "verifier key name")

    @property
    def key_hash(self) -> bytes:
        """The 4-byte C2SP key hash."""
        return _key_hash(self.name, self.key.public_bytes)

    def to_vkey(self) -> str:
        """The ``name+hash+base64(0x01||key)`` verifier key text."""
        return f"{self.name}+{self.key_hash.hex()}+{b64encode(_ED25519_TYPE + self.key.public_bytes)}"

    @classmethod
    def from_vkey(cls, text: str) -> NoteVerifier:
        """Parse verifier key text.

        Raises:
            EncodingError: malformed text, a non-Ed25519 key type, or a key hash
                that does not match the name and key.
        """
        parts = text.strip().split("+", 2)  # the base64 key may itself contain '+'
        if len(parts) != 3:
            raise EncodingError("vkey: expected name+keyhash+base64key")
        name, hash_hex, key_b64 = parts
        blob = b64decode(key_b64, field="vkey key", length=33)
        if blob[:1] != _ED25519_TYPE:
            raise EncodingError("vkey: only Ed25519 (type 0x01) keys are supported")
        verifier = cls(name=name, key=VerifyingKey(blob[1:]))
        if verifier.key_hash.hex() != hash_hex:
            raise EncodingError("vkey: key hash does not match the name and key")
        return verifier

    def is_valid_for(self, body: bytes, signature: NoteSignature) -> bool:
        """Whether ``signature`` is this key's valid signature over note text ``body``."""
        return (
            signature.name == self.name
            and signature.key_hash == self.key_hash
            and self.key.is_valid(signature.signature, body)
        )

    def verify(self, note: SignedCheckpoint) -> Checkpoint:
        """Verify the note's signature by this key and return the trusted checkpoint.

        Raises:
            VerificationError: no signature line by this key, or it does not verify.
        """
        body = note.checkpoint.to_bytes()
        mine = [s for s in note.signatures if s.name == self.name and s.key_hash == self.key_hash]
        if not mine:
            raise VerificationError(
                f"checkpoint of size {note.checkpoint.size} has no signature by {self.name} "
                f"(key hash {self.key_hash.hex()})"
            )
        for sig in mine:
            if not self.is_valid_for(body, sig):
                raise VerificationError(
                    f"checkpoint of size {note.checkpoint.size}: signature by {self.name} does not verify"
                )
        return note.checkpoint


class NoteSigner:
    """Signs checkpoints as one named Ed25519 key (the log, or a witness)."""

    __slots__ = ("_key", "name")

    def __init__(self, name: str, key: SigningKey) -> None:
        """Bind a key to its note name."""
        self.name = _check_name(name, "signer key name")
        self._key = key

    @property
    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return NoteVerifier(self.name, self._key.verifying_key)

    def sign_bytes(self, body: bytes) -> NoteSignature:
        """Sign any note text (newline-terminated lines); returns the signature line."""
        return NoteSignature(
            name=self.name,
            key_hash=_key_hash(self.name, self._key.verifying_key.public_bytes),
            signature=self._key.sign(body),
        )

    def signature(self, checkpoint: Checkpoint) -> NoteSignature:
        """Sign a checkpoint body; returns the signature line."""
        return self.sign_bytes(checkpoint.to_bytes())

    def sign(self, checkpoint: Checkpoint) -> SignedCheckpoint:
        """Return the checkpoint signed by this key alone."""
        return SignedCheckpoint(checkpoint, (self.signature(checkpoint),))

    def __repr__(self) -> str:
        """Show the name and key id, never the key."""
        return f"NoteSigner(name={self.name!r}, key_id={self._key.key_id!r})"
