"""Annexes sealed to a recipient's X25519 key, so the mediator relays what it cannot read.

**Construction** (``backchannel/seal/v1``; HPKE-style, not RFC 9180 HPKE). To
seal ``plaintext`` to a recipient's X25519 public key ``R`` under a
``context``, the sender takes a fresh ephemeral X25519 key pair ``(e, E)`` and
computes the shared secret ``X25519(e, R)``, refusing an all-zero result (a
low-order ``R``). HKDF-SHA256 (RFC 5869) derives 44 bytes from it, with
``salt = E || R`` and ``info = "backchannel/seal/v1" || context``. The first 32
bytes are a ChaCha20-Poly1305 key (RFC 8439) and the last 12 its nonce. The
ciphertext is ``ChaCha20-Poly1305(key, nonce, plaintext, aad = context)``, tag
included. The sealed annex carries the recipient's key id, ``E``, the
ciphertext and the context. The recipient computes ``X25519(r, E)`` and
derives the same key and nonce. It opens the annex only under the context it
expects: a changed byte anywhere (``E``, the ciphertext, the context) or the
wrong recipient key fails authentication. Salting with both public keys binds
the derived key to this sender-recipient pair. Putting the context in both
``info`` and the AAD binds it to the key and to the ciphertext. The context
should name where the annex belongs (track, message, recipient member), so
that a sealed annex cannot be replayed into another message. The nonce is
derived, not random, which keeps :func:`seal` pure. It is safe because each
ephemeral key is used once. **Reusing an ephemeral key with the same recipient
and context repeats the (key, nonce) pair**, which breaks ChaCha20-Poly1305
(it leaks the XOR of the plaintexts and allows forgeries). Callers must pass a
fresh :func:`~backchannel.protocol.keyfile.generate_agreement_key` to every :func:`seal` call and then
discard it.

What a seal does not give: **sender authentication**. Anyone can seal to a
public key, as with HPKE's base mode. Authorship comes from the member's
signed command that carries the sealed annex (its ciphertext or its hash).
Nor does it give forward secrecy against a later compromise of the
recipient's key.

This module does not generate keys or randomness, does not read files or the
clock, does not decide who may read an annex, and does not sign anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError, VerificationError
from backchannel.log._checks import is_bytes_of, is_text
from backchannel.log.signing import AgreementKey, b64decode, b64encode, key_id

__all__ = ["MAX_CONTEXT", "MAX_PLAINTEXT", "SUITE", "SealedAnnex", "open_sealed", "seal"]

SUITE = "backchannel/seal/v1"
"""The construction's name: the HKDF ``info`` prefix and the ``suite`` field of the dict form."""
MAX_PLAINTEXT = 16 * 1024 * 1024
"""The largest annex that can be sealed (16 MiB)."""
MAX_CONTEXT = 1024
"""The longest context (bytes)."""

_INFO = SUITE.encode("ascii")
_KEY_LENGTH = 32
_NONCE_LENGTH = 12
_TAG_LENGTH = 16
_PUBLIC_KEY_LENGTH = 32
_X25519_KEY_ID = re.compile(r"x25519:[0-9a-f]{32}")
_FIELDS = frozenset({"suite", "recipient_key_id", "ephemeral_public", "ciphertext", "context"})


def _is_bytes(value: object) -> bool:
    """Whether ``value`` is ``bytes`` (callers may be untyped; see :mod:`backchannel.log._checks`)."""
    return isinstance(value, bytes)


@dataclass(frozen=True, slots=True)
class SealedAnnex:
    """An annex sealed to one recipient: all a relay sees of it."""

    recipient_key_id: str
    """The key id (``x25519:...``) of the recipient's public key."""
    ephemeral_public: bytes
    """The sender's single-use X25519 public key, 32 bytes."""
    ciphertext: bytes
    """ChaCha20-Poly1305 output: the encrypted annex followed by the 16-byte tag."""
    context: bytes
    """What the annex was sealed for; must equal the opener's expected context."""

    def __post_init__(self) -> None:
        """Check the shape of every field.

        Raises:
            EncodingError: a malformed key id, key, ciphertext or context.
        """
        if not is_text(self.recipient_key_id) or not _X25519_KEY_ID.fullmatch(self.recipient_key_id):
            raise EncodingError(f"recipient_key_id: {self.recipient_key_id!r} is not an x25519 key id")
        if not is_bytes_of(self.ephemeral_public, _PUBLIC_KEY_LENGTH):
            raise EncodingError("ephemeral_public: expected 32 bytes")
        if not _is_bytes(self.ciphertext) or not (
            _TAG_LENGTH <= len(self.ciphertext) <= MAX_PLAINTEXT + _TAG_LENGTH
        ):
            raise EncodingError(
                f"ciphertext: expected {_TAG_LENGTH} to {MAX_PLAINTEXT + _TAG_LENGTH} bytes (tag included)"
            )
        _check_context(self.context)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object form: binary fields as standard, padded base64."""
        return {
            "suite": SUITE,
            "recipient_key_id": self.recipient_key_id,
            "ephemeral_public": b64encode(self.ephemeral_public),
            "ciphertext": b64encode(self.ciphertext),
            "context": b64encode(self.context),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> SealedAnnex:
        """Decode the JSON object form strictly.

        Args:
            value: A decoded JSON object.

        Returns:
            The sealed annex.

        Raises:
            EncodingError: not an object, unknown or missing fields, another
                suite, non-canonical base64, or a malformed field.
        """
        if not isinstance(value, Mapping):
            raise EncodingError(f"sealed annex: expected a JSON object, got {type(value).__name__}")
        if unknown := sorted(set(value) - _FIELDS):
            raise EncodingError(f"sealed annex: unknown field(s) {unknown}")
        if missing := sorted(_FIELDS - set(value)):
            raise EncodingError(f"sealed annex: missing field(s) {missing}")
        if value["suite"] != SUITE:
            raise EncodingError(f"sealed annex: unsupported suite {value['suite']!r} (expected {SUITE!r})")
        texts: dict[str, str] = {}
        for name in ("recipient_key_id", "ephemeral_public", "ciphertext", "context"):
            text = value[name]
            if not isinstance(text, str):
                raise EncodingError(f"{name}: expected a string, got {type(text).__name__}")
            texts[name] = text
        return cls(
            recipient_key_id=texts["recipient_key_id"],
            ephemeral_public=b64decode(texts["ephemeral_public"], field="ephemeral_public"),
            ciphertext=b64decode(texts["ciphertext"], field="ciphertext"),
            context=b64decode(texts["context"], field="context"),
        )


def _check_context(context: bytes) -> None:
    if not _is_bytes(context) or len(context) > MAX_CONTEXT:
        raise EncodingError(f"context: expected at most {MAX_CONTEXT} bytes")


def _derive(
    private: AgreementKey,
    peer_public: bytes,
    ephemeral_public: bytes,
    recipient_public: bytes,
    context: bytes,
) -> tuple[bytes, bytes]:
    """Return (key, nonce); the exchange refuses low-order peer keys (VerificationError)."""
    shared = private.exchange(peer_public)
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=_KEY_LENGTH + _NONCE_LENGTH,
        salt=ephemeral_public + recipient_public,
        info=_INFO + context,
    ).derive(shared)
    return okm[:_KEY_LENGTH], okm[_KEY_LENGTH:]


def seal(
    plaintext: bytes, recipient_public: bytes, *, ephemeral: AgreementKey, context: bytes
) -> SealedAnnex:
    """Seal ``plaintext`` so that only the holder of ``recipient_public``'s private key can open it.

    Args:
        plaintext: The annex, at most 16 MiB.
        recipient_public: The recipient's raw 32-byte X25519 public key.
        ephemeral: A fresh X25519 key used for this call only, then discarded
            (see the module docstring: reuse breaks the cipher).
        context: Where the annex belongs (at most 1 KiB); the opener must
            present the same bytes.

    Returns:
        The sealed annex.

    Raises:
        EncodingError: plaintext too large, a malformed context, or a public key
            that is not 32 bytes.
        VerificationError: a low-order (e.g. all-zero) recipient public key.
    """
    if not _is_bytes(plaintext) or len(plaintext) > MAX_PLAINTEXT:
        raise EncodingError(f"plaintext: expected at most {MAX_PLAINTEXT} bytes")
    _check_context(context)
    if not is_bytes_of(recipient_public, _PUBLIC_KEY_LENGTH):
        raise EncodingError("recipient_public: expected a raw 32-byte X25519 public key")
    ephemeral_public = ephemeral.public_bytes
    key, nonce = _derive(ephemeral, recipient_public, ephemeral_public, recipient_public, context)
    return SealedAnnex(
        recipient_key_id=key_id("x25519", recipient_public),
        ephemeral_public=ephemeral_public,
        ciphertext=ChaCha20Poly1305(key).encrypt(nonce, plaintext, context),
        context=context,
    )


def open_sealed(annex: SealedAnnex, recipient: AgreementKey, *, context: bytes) -> bytes:
    """Open a sealed annex with the recipient's private key.

    Args:
        annex: The sealed annex.
        recipient: The recipient's X25519 key.
        context: The context the opener expects the annex to belong to.

    Returns:
        The plaintext.

    Raises:
        VerificationError: sealed to another key, another context, a low-order
            ephemeral key, or any byte changed.
        EncodingError: a malformed context.
    """
    _check_context(context)
    if annex.recipient_key_id != recipient.key_id:
        raise VerificationError(f"annex is sealed to {annex.recipient_key_id}, not to {recipient.key_id}")
    if annex.context != context:
        raise VerificationError("annex was sealed for another context")
    key, nonce = _derive(
        recipient, annex.ephemeral_public, annex.ephemeral_public, recipient.public_bytes, context
    )
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, annex.ciphertext, context)
    except InvalidTag as e:
        raise VerificationError(
            "sealed annex does not authenticate: altered in transit, or not sealed to this key"
        ) from e
