r"""Witness cosignatures of checkpoints: C2SP ``tlog-cosignature``, the Ed25519 ``cosignature/v1`` type.

A witness that has checked a checkpoint's consistency with every checkpoint it
saw before signs it and adds one line to the signed note::

    backchannel.local/us-iran-nuclear
    42
    3q2+7w...=

    — backchannel.local Az3grlgt...           (the log's signature, type 0x01)
    — norway/principal jWbPPwAAAABkGFDL...    (a witness cosignature, type 0x04)

Byte formats (https://c2sp.org/tlog-cosignature):

- **Key ID:** the first 4 bytes of ``SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)``.
- **Signed message:** ``"cosignature/v1\n" || "time <T>\n" || checkpoint body`` where
  ``<T>`` is the POSIX timestamp in ASCII decimal without leading zeros and the
  body is the whole note text up to and including the newline that ends its
  last line (extension lines included), without the signature lines.
- **Signature line:** ``— <name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64))``.
  The timestamp must not exceed ``2**63 - 1``.
- **Verifier key (vkey):** ``<name>+<hex key ID>+base64(0x04 || public key)``. A
  plain Ed25519 note vkey (type ``0x01``) is accepted too and read as the same
  key used for cosignatures, as ``golang.org/x/mod``-compatible tools do.

A cosignature says: "as of time T, the largest consistent checkpoint I have
seen for this origin has this root". Whether to believe enough witnesses is a
policy: :class:`WitnessPolicy` counts the valid cosignatures by *known*
witnesses and :meth:`WitnessPolicy.require` fails closed with
:class:`InsufficientCosignaturesError`, naming how many it found and how many
it needs. Lines by unknown names or key IDs are ignored, as the signed-note
spec requires; a line that claims a known witness's name and key ID but does
not verify makes that witness count as invalid, never valid.

This module does not check consistency between checkpoints (see
:mod:`backchannel.log.merkle`) and does not keep state: the witness program
(:mod:`backchannel.sdk.witness`) does both. It reads no clock: timestamps are
passed in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from backchannel.errors import ConfigurationError, EncodingError, VerificationError
from backchannel.log._checks import is_bytes_of, is_natural
from backchannel.log.checkpoint import Checkpoint, NoteSignature, SignedCheckpoint
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode, b64encode

__all__ = [
    "COSIGNATURE_V1",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignatureSigner",
    "CosignatureVerifier",
    "InsufficientCosignaturesError",
    "QuorumResult",
    "WitnessPolicy",
    "cosignature_key_id",
    "cosigned_message",
]

COSIGNATURE_V1 = b"cosignature/v1\n"
"""The header line of every signed message (domain separation)."""
MAX_TIMESTAMP = (1 << 63) - 1
"""The largest timestamp a cosignature may carry."""

_COSIGNATURE_TYPE = b"\x04"
_ED25519_TYPE = b"\x01"
_BLOB_SIZE = 4 + 8 + 64
_NAME = re.compile(r"[^\s+]+")


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise EncodingError(f"{what}: {name!r} must be non-empty with no spaces or '+'")
    return name


def _check_timestamp(timestamp: object) -> int:
    if not is_natural(timestamp) or not isinstance(timestamp, int) or timestamp > MAX_TIMESTAMP:
        raise EncodingError(f"cosignature timestamp: expected an integer 0..2^63-1, got {timestamp!r}")
    return timestamp


def cosignature_key_id(name: str, public_bytes: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner: ``SHA-256(name || 0x0A || 0x04 || key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _COSIGNATURE_TYPE + public_bytes).digest()[:4]


def cosigned_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signature covers for ``checkpoint`` at ``timestamp``.

    Raises:
        EncodingError: a timestamp outside ``0..2**63 - 1``.
    """
    header = COSIGNATURE_V1 + b"time %d\n" % _check_timestamp(timestamp)
    return header + checkpoint.to_bytes()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One ``cosignature/v1`` signature line, decoded.

    Attributes:
        name: The cosigner's name (a member id here, e.g. ``norway/principal``).
        key_id: The 4-byte key ID (see :func:`cosignature_key_id`).
        timestamp: When it was made (POSIX seconds).
        signature: The 64-byte Ed25519 signature over :func:`cosigned_message`.
    """

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        """Validate every field (raises :class:`EncodingError` naming it)."""
        _check_name(self.name, "cosignature name")
        if not is_bytes_of(self.key_id, 4):
            raise EncodingError("cosignature key ID: expected 4 bytes")
        _check_timestamp(self.timestamp)
        if not is_bytes_of(self.signature, 64):
            raise EncodingError("cosignature signature: expected 64 bytes")

    def to_note_signature(self) -> NoteSignature:
        """The note signature: key ID as the key hash, timestamp and signature as the blob."""
        return NoteSignature(self.name, self.key_id, self.timestamp.to_bytes(8, "big") + self.signature)

    @classmethod
    def from_note_signature(cls, signature: NoteSignature) -> Cosignature:
        """Read a note signature as a cosignature.

        Raises:
            EncodingError: the blob is not 4 + 8 + 64 bytes, or the timestamp exceeds ``2**63 - 1``.
        """
        blob = signature.signature
        if len(blob) != _BLOB_SIZE - 4:
            raise EncodingError(
                f"cosignature by {signature.name}: expected {_BLOB_SIZE} bytes "
                f"(key ID, timestamp, signature), got {len(blob) + 4}"
            )
        return cls(signature.name, signature.key_hash, int.from_bytes(blob[:8], "big"), blob[8:])

    def to_line(self) -> str:
        """The ``— name base64`` line, without the newline."""
        return self.to_note_signature().to_line()

    @classmethod
    def from_line(cls, line: str) -> Cosignature:
        """Parse a signature line as a cosignature.

        Raises:
            EncodingError: not a signature line, or not a cosignature's size.
        """
        return cls.from_note_signature(NoteSignature.from_line(line))


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """Verifies ``cosignature/v1`` signatures by one named Ed25519 cosigner."""

    name: str
    key: VerifyingKey

    def __post_init__(self) -> None:
        """Validate the name."""
        _check_name(self.name, "cosigner name")

    @property
    def key_id(self) -> bytes:
        """The cosigner's 4-byte key ID."""
        return cosignature_key_id(self.name, self.key.public_bytes)

    def to_vkey(self) -> str:
        """The ``name+hex(key ID)+base64(0x04 || key)`` verifier key text."""
        return f"{self.name}+{self.key_id.hex()}+{b64encode(_COSIGNATURE_TYPE + self.key.public_bytes)}"

    @classmethod
    def from_vkey(cls, text: str) -> CosignatureVerifier:
        """Parse a cosigner's verifier key (type ``0x04``, or a plain Ed25519 type ``0x01``).

        Raises:
            EncodingError: malformed text, another key type, or a key hash that
                does not match the name and key (computed for the vkey's own type).
        """
        parts = text.strip().split("+", 2)  # the base64 key may itself contain '+'
        if len(parts) != 3:
            raise EncodingError("cosigner vkey: expected name+keyhash+base64key")
        name, hash_hex, key_b64 = parts
        blob = b64decode(key_b64, field="cosigner vkey key", length=33)
        kind, public = blob[:1], blob[1:]
        if kind not in {_COSIGNATURE_TYPE, _ED25519_TYPE}:
            raise EncodingError(
                f"cosigner vkey: key type 0x{kind.hex()} is neither 0x04 (cosignature/v1) nor 0x01 (Ed25519)"
            )
        verifier = cls(name=name, key=VerifyingKey(public))
        expected = hashlib.sha256(name.encode("utf-8") + b"\n" + kind + public).digest()[:4]
        if expected.hex() != hash_hex:
            raise EncodingError("cosigner vkey: key hash does not match the name and key")
        return verifier

    def matches(self, signature: NoteSignature) -> bool:
        """Whether a signature line claims to be this cosigner's (name and key ID)."""
        return signature.name == self.name and signature.key_hash == self.key_id

    def is_valid_for(self, checkpoint: Checkpoint, signature: NoteSignature) -> bool:
        """Whether ``signature`` is this cosigner's valid cosignature of ``checkpoint``."""
        if not self.matches(signature):
            return False
        try:
            cosignature = Cosignature.from_note_signature(signature)
        except EncodingError:
            return False
        message = cosigned_message(checkpoint, cosignature.timestamp)
        return self.key.is_valid(cosignature.signature, message)

    def verify(self, note: SignedCheckpoint) -> Cosignature:
        """Return this cosigner's cosignature of the note (the newest, if it signed more than once).

        Raises:
            VerificationError: no line by this cosigner, or one of its lines does not verify.
        """
        mine = [s for s in note.signatures if self.matches(s)]
        size = note.checkpoint.size
        if not mine:
            raise VerificationError(
                f"checkpoint of size {size} has no cosignature by {self.name} (key ID {self.key_id.hex()})"
            )
        if not all(self.is_valid_for(note.checkpoint, s) for s in mine):
            raise VerificationError(
                f"checkpoint of size {size}: a cosignature by {self.name} does not verify"
            )
        return max((Cosignature.from_note_signature(s) for s in mine), key=lambda c: c.timestamp)


class CosignatureSigner:
    """Cosigns checkpoints as one named Ed25519 key (a witness)."""

    __slots__ = ("_key", "name")

    def __init__(self, name: str, key: SigningKey) -> None:
        """Bind a key to its cosigner name."""
        self.name = _check_name(name, "cosigner name")
        self._key = key

    @property
    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return CosignatureVerifier(self.name, self._key.verifying_key)

    def cosign(self, checkpoint: Checkpoint, timestamp: int) -> Cosignature:
        """Cosign ``checkpoint`` as of ``timestamp`` (POSIX seconds).

        Raises:
            EncodingError: a timestamp outside ``0..2**63 - 1``.
        """
        signature = self._key.sign(cosigned_message(checkpoint, timestamp))
        return Cosignature(self.name, self.verifier.key_id, timestamp, signature)

    def __repr__(self) -> str:
        """Show the name and key id, never the key."""
        return f"CosignatureSigner(name={self.name!r}, key_id={self._key.key_id!r})"


class InsufficientCosignaturesError(VerificationError):
    """A checkpoint lacks the quorum of valid cosignatures by known witnesses.

    Attributes:
        size: The checkpoint's tree size.
        found: How many known witnesses cosigned it validly.
        required: How many the policy requires.
        note: The signed note that was refused (text).
    """

    def __init__(self, message: str, *, size: int, found: int, required: int, note: str) -> None:
        """Create the error; the message names found and required."""
        super().__init__(message)
        self.size = size
        self.found = found
        self.required = required
        self.note = note


@dataclass(frozen=True, slots=True)
class QuorumResult:
    """How a checkpoint fares against a :class:`WitnessPolicy`.

    Attributes:
        valid: The known witnesses whose cosignatures verify, sorted.
        invalid: The known witnesses with a line that claims to be theirs but does not verify, sorted.
        missing: The known witnesses with no line at all, sorted.
        required: The quorum.
    """

    valid: tuple[str, ...]
    invalid: tuple[str, ...]
    missing: tuple[str, ...]
    required: int

    @property
    def satisfied(self) -> bool:
        """True when at least ``required`` known witnesses cosigned validly."""
        return len(self.valid) >= self.required

    def describe(self) -> str:
        """A one-line summary: ``1 of 1 required valid cosignatures (norway/principal)``."""
        names = ", ".join(self.valid) or "none"
        text = (
            f"{len(self.valid)} valid cosignature(s) from known witnesses ({names}); {self.required} required"
        )
        if self.invalid:
            text += f"; invalid: {', '.join(self.invalid)}"
        return text


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """Trust a checkpoint once ``quorum`` distinct known witnesses cosigned it validly.

    Attributes:
        witnesses: The known cosigners (distinct names).
        quorum: How many must have cosigned (0 trusts the log's signature alone).

    Raises:
        ConfigurationError: duplicate names, or a quorum below 0 or above the number of witnesses.
    """

    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int

    def __post_init__(self) -> None:
        """Check the policy can ever be met."""
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"witness policy: duplicate witness names in {sorted(names)}")
        if not is_natural(self.quorum) or self.quorum > len(names):
            raise ConfigurationError(
                f"witness policy: the quorum must be 0..{len(names)} (the number of known witnesses), "
                f"got {self.quorum!r}"
            )

    @classmethod
    def of(cls, witnesses: Iterable[CosignatureVerifier], quorum: int) -> WitnessPolicy:
        """Build a policy from any iterable of verifiers."""
        return cls(tuple(witnesses), quorum)

    def check(self, note: SignedCheckpoint) -> QuorumResult:
        """Count the valid cosignatures of known witnesses on ``note`` (never raises)."""
        valid: list[str] = []
        invalid: list[str] = []
        missing: list[str] = []
        for witness in self.witnesses:
            lines = [s for s in note.signatures if witness.matches(s)]
            if not lines:
                missing.append(witness.name)
            elif all(witness.is_valid_for(note.checkpoint, s) for s in lines):
                valid.append(witness.name)
            else:
                invalid.append(witness.name)
        return QuorumResult(tuple(sorted(valid)), tuple(sorted(invalid)), tuple(sorted(missing)), self.quorum)

    def require(self, note: SignedCheckpoint, *, origin: str = "") -> QuorumResult:
        """:meth:`check`, failing closed.

        Args:
            note: The signed note (its log signature must already be verified).
            origin: A name for the log in the error message (the checkpoint's origin by default).

        Raises:
            InsufficientCosignaturesError: fewer than ``quorum`` valid cosignatures by known witnesses.
        """
        result = self.check(note)
        if not result.satisfied:
            size = note.checkpoint.size
            raise InsufficientCosignaturesError(
                f"checkpoint of size {size} of {origin or note.checkpoint.origin} is not trusted: "
                f"{result.describe()}",
                size=size,
                found=len(result.valid),
                required=self.quorum,
                note=note.to_text(),
            )
        return result
