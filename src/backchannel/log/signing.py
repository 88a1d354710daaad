"""Ed25519 signatures and X25519 key agreement keys, over pyca/cryptography.

A member holds one :class:`SigningKey` (Ed25519) and one :class:`AgreementKey`
(X25519). Key ids are derived from the public key alone (:func:`key_id`), so
anyone holding a public key can compute its id and nobody can choose one.

Private key material never appears in ``repr``/``str`` and is only exposed by
the explicitly named ``private_bytes_unsafe`` accessors used by the key file
writer.

This module does not read or write files (see :mod:`backchannel.protocol.keyfile`) and
does not decide *which* key may sign *what*: that is the verifier's policy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from backchannel.errors import EncodingError, VerificationError

__all__ = [
    "AgreementKey",
    "SigningKey",
    "VerifyingKey",
    "b64decode",
    "b64encode",
    "key_id",
]

_KEY_ID_DOMAIN = {"ed25519": b"backchannel/key-id/ed25519\n", "x25519": b"backchannel/key-id/x25519\n"}


def key_id(algorithm: str, public_bytes: bytes) -> str:
    """Derive the key id of a public key.

    The id is ``<algorithm>:`` followed by the first 16 bytes, in lowercase hex,
    of SHA-256 over a per-algorithm domain tag and the raw 32-byte public key.

    Args:
        algorithm: ``"ed25519"`` or ``"x25519"``.
        public_bytes: The raw 32-byte public key.

    Returns:
        The key id, e.g. ``"ed25519:3f1c..."`` (40 characters).

    Raises:
        EncodingError: unknown algorithm or a public key that is not 32 bytes.
    """
    domain = _KEY_ID_DOMAIN.get(algorithm)
    if domain is None:
        raise EncodingError(f"unknown key algorithm {algorithm!r} (expected ed25519 or x25519)")
    if len(public_bytes) != 32:
        raise EncodingError(f"{algorithm} public key must be 32 bytes, got {len(public_bytes)}")
    return f"{algorithm}:{hashlib.sha256(domain + public_bytes).hexdigest()[:32]}"


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as text."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, *, field: str, length: int | None = None) -> bytes:
    """Strictly decode standard base64, naming the field on failure.

    Args:
        text: The base64 text.
        field: The field name to put in the error message.
        length: If given, the exact number of decoded bytes required.

    Returns:
        The decoded bytes.

    Raises:
        EncodingError: not a string, not canonical base64, or the wrong length.
    """
    if not isinstance(text, str):
        raise EncodingError(f"{field}: expected a base64 string, got {type(text).__name__}")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise EncodingError(f"{field}: not valid base64 ({e})") from e
    if base64.b64encode(data).decode("ascii") != text:
        raise EncodingError(f"{field}: base64 is not in canonical form")
    if length is not None and len(data) != length:
        raise EncodingError(f"{field}: expected {length} bytes, got {len(data)}")
    return data


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """An Ed25519 public key and its key id."""

    public_bytes: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        """Validate the key and load it once (verification is the hot path)."""
        if len(self.public_bytes) != 32:
            raise EncodingError(f"ed25519 public key must be 32 bytes, got {len(self.public_bytes)}")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_bytes)
        except ValueError as e:  # pragma: no cover - pyca accepts every 32-byte string today
            raise EncodingError(f"not an Ed25519 public key: {e}") from e
        object.__setattr__(self, "_key", key)

    @property
    def key_id(self) -> str:
        """The key id derived from the public key."""
        return key_id("ed25519", self.public_bytes)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Verify an Ed25519 signature over ``message``.

        Raises:
            VerificationError: the signature does not verify (or is malformed).
        """
        try:
            self._key.verify(signature, message)
        except (InvalidSignature, ValueError, TypeError) as e:
            raise VerificationError(f"Ed25519 signature does not verify for key {self.key_id}") from e

    def is_valid(self, signature: bytes, message: bytes) -> bool:
        """Return whether the signature verifies (the non-raising twin of :meth:`verify`)."""
        try:
            self.verify(signature, message)
        except VerificationError:
            return False
        return True

    def to_text(self) -> str:
        """The public key as base64 text."""
        return b64encode(self.public_bytes)

    @classmethod
    def from_text(cls, text: str, *, field: str = "public_key") -> VerifyingKey:
        """Parse a base64 public key.

        Raises:
            EncodingError: not 32 bytes of canonical base64.
        """
        return cls(b64decode(text, field=field, length=32))


class SigningKey:
    """An Ed25519 private key. ``repr`` shows only the key id."""

    __slots__ = ("_key", "_verifying")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        """Wrap a ``cryptography`` Ed25519 private key."""
        self._key = private_key
        self._verifying = VerifyingKey(private_key.public_key().public_bytes_raw())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Create the key for a 32-byte RFC 8032 seed (test vectors, key files).

        Raises:
            EncodingError: the seed is not 32 bytes.
        """
        if len(seed) != 32:
            raise EncodingError(f"ed25519 seed must be 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def verifying_key(self) -> VerifyingKey:
        """The public half."""
        return self._verifying

    @property
    def key_id(self) -> str:
        """The key id of the public half."""
        return self._verifying.key_id

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``; returns the 64-byte signature."""
        return self._key.sign(message)

    def private_bytes_unsafe(self) -> bytes:
        """Return the raw 32-byte seed. Only for writing a 0600 key file."""
        return self._key.private_bytes_raw()

    def __repr__(self) -> str:
        """Show the key id only, never the private key."""
        return f"SigningKey(key_id={self.key_id!r})"


class AgreementKey:
    """An X25519 private key for sealing annexes. ``repr`` shows only the key id."""

    __slots__ = ("_key", "_public")

    def __init__(self, private_key: X25519PrivateKey) -> None:
        """Wrap a ``cryptography`` X25519 private key."""
        self._key = private_key
        self._public = private_key.public_key().public_bytes_raw()

    @classmethod
    def from_private_bytes(cls, data: bytes) -> AgreementKey:
        """Load a raw 32-byte X25519 private key.

        Raises:
            EncodingError: not 32 bytes.
        """
        if len(data) != 32:
            raise EncodingError(f"x25519 private key must be 32 bytes, got {len(data)}")
        return cls(X25519PrivateKey.from_private_bytes(data))

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public

    @property
    def key_id(self) -> str:
        """The key id of the public key."""
        return key_id("x25519", self._public)

    def to_text(self) -> str:
        """The public key as base64 text."""
        return b64encode(self._public)

    def exchange(self, peer_public: bytes) -> bytes:
        """Compute the X25519 shared secret with a peer's raw public key.

        Raises:
            VerificationError: the peer key is malformed or a low-order point.
        """
        try:
            return self._key.exchange(X25519PublicKey.from_public_bytes(peer_public))
        except ValueError as e:
            raise VerificationError(f"invalid X25519 peer public key: {e}") from e

    def private_bytes_unsafe(self) -> bytes:
        """Return the raw 32-byte private key. Only for writing a 0600 key file."""
        return self._key.private_bytes_raw()

    def __repr__(self) -> str:
        """Show the key id only, never the private key."""
        return f"AgreementKey(key_id={self.key_id!r})"
