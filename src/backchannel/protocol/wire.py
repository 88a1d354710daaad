"""The signed-command wire format of ADR-0011: what a member signs, and its domain command.

A signed command is a JSON object of exactly two fields, ``{"payload": {...},
"sig": "<base64>"}``. The payload has exactly eight fields::

    {"track", "command", "member", "key_id", "issued_at", "nonce", "idempotency_key", "body"}

and ``sig`` is the member's Ed25519 signature over the payload's RFC 8785
canonical bytes. The SHA-256 of those bytes is the command's digest; a message's
id is the digest of the command that created it, in hex. A batch-signed command
(ADR-0051, :mod:`backchannel.protocol.batch`) is ``{"payload": {...}, "batch":
{...}}`` instead: one signature over the Merkle root of a batch of digests and
this command's inclusion proof (:func:`sign_batch`); it verifies alone too.

- :func:`sign_command` builds and signs a payload (the client's side);
  :meth:`SignedCommand.from_dict` decodes one strictly and
  :meth:`SignedCommand.verify` checks its signature (the service's side).
- :func:`to_domain` turns a signed command into the domain command its
  ``body`` describes (:mod:`backchannel.domain.commands`); :func:`command_body`
  is its inverse, the body of a domain command.
- :func:`agenda_digest` and :func:`deal_hash` hash an agenda's or a deal's
  canonical JSON: ratifications and deal votes sign these (the commands that
  carry an agenda or a deal get the hash from here, never from the client).

Encodings: instants are canonical UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``);
public keys are standard base64 (:func:`new_key_to_dict`); digests are 64
lowercase hex digits; kinds are their enum values. Each command's ``body`` is a
closed object of the command's fields, derived from its dataclass through one
codec layer (:mod:`backchannel.domain.codec`, the wire's format in
``backchannel.protocol._wire_codec``); its wire name is the one its feature registers
(:data:`COMMAND_NAMES`). Unknown,
missing and mistyped fields are refused with an
:class:`~backchannel.errors.EncodingError` naming the field (``payload.nonce``,
``body.to_parties.2``, ``body.new_key.ed25519``). Values of the right JSON type
but the wrong shape (a malformed member id, a version below 1, an unknown kind)
are the domain's to refuse, with a field-level
:class:`~backchannel.domain.errors.SchemaViolationError`.

Two bodies carry a digest the wire computes: ``propose_agenda``'s agenda digest
(:func:`agenda_digest`) and ``record_receipt``'s ``receipt_digest``, which
must be :func:`receipt_digest` of its ``items`` (``[[message_id, log_index],
...]``) or the command is refused with a ``receipt_digest`` violation.

A :class:`SignedCommand` holds its payload as parsed back from the canonical
bytes, so the payload, the bytes that were signed and the digest always agree
(a float ``1.0`` is the integer ``1`` on both sides of the wire). Treat the
payload as read-only; :meth:`SignedCommand.to_dict` returns a copy.

This module does not decide which key may sign a command (the track's key
history does: :meth:`backchannel.domain.state.TrackState.signing_key`), does not
verify the signature in :func:`to_domain` (call :meth:`SignedCommand.verify`
first), does not check nonces or ``issued_at`` for freshness or replay (the
transport does, RFC 9421), does not decide whether a command is allowed
(:func:`backchannel.domain.track.decide`), and does no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from backchannel.domain.codec import At, Body, Checked, Optional, Reader, Text
from backchannel.domain.command_envelope import Command
from backchannel.domain.features import REGISTRY
from backchannel.domain.ids import check_idempotency_key, check_key_id, check_member_id, check_track_id
from backchannel.domain.keys import NewKey
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError, VerificationError
from backchannel.log.canonical import canonicalize
from backchannel.log.records import format_timestamp
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode, b64encode
from backchannel.protocol._wire_codec import (
    WIRE_STYLE,
    GrantedKey,
    Timestamp,
    agenda_digest,
    command_body,
    deal_hash,
    escrow_digest,
    read_body,
    receipt_digest,
)
from backchannel.protocol.batch import BatchProof, prove_batch
from backchannel.protocol.keyfile import KeyPair

__all__ = [
    "COMMAND_NAMES",
    "SignedCommand",
    "agenda_digest",
    "command_body",
    "command_payload",
    "deal_hash",
    "enrolment_key",
    "escrow_digest",
    "new_key_from_dict",
    "new_key_to_dict",
    "receipt_digest",
    "sign_batch",
    "sign_command",
    "to_domain",
]

_SIGNED_FIELDS = frozenset({"payload", "sig"})
_BATCH_SIGNED_FIELDS = frozenset({"payload", "batch"})
_PAYLOAD_FIELDS = frozenset(
    {"track", "command", "member", "key_id", "issued_at", "nonce", "idempotency_key", "body"}
)
_NONCE = re.compile(r"[A-Za-z0-9._~-]{8,128}")
_SIGNATURE_SIZE = 64
_TEXT, _OBJECT, _GRANTED = Text(), Body(frozen=False), GrantedKey()
_IDEMPOTENCY_KEY = Optional(Checked(check_idempotency_key, _TEXT))

COMMAND_NAMES: dict[str, type[Command]] = dict(REGISTRY.commands)
"""Each command's wire name (``payload.command``) and its domain class, as the features register them."""


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------


def enrolment_key(keys: KeyPair, *, expires_at: datetime | None = None) -> dict[str, JSONValue]:
    """The wire form of a holder's keys as a key to enrol (``open_track``, ``admit_party``...).

    Args:
        keys: The holder's Ed25519 and X25519 keys (only the public halves are used).
        expires_at: When the key stops being usable; ``None`` for no expiry.
    """
    public = NewKey(
        keys.signing.key_id, keys.signing.verifying_key.public_bytes, keys.agreement.public_bytes, expires_at
    )
    return new_key_to_dict(public)


def new_key_to_dict(key: NewKey) -> dict[str, JSONValue]:
    """The JSON form of a granted key.

    Returns:
        ``{"key_id", "ed25519": base64, "x25519": base64, "expires_at": timestamp or null}``.
    """
    return GrantedKey.to_dict(key)


def new_key_from_dict(value: JSONValue, field: str) -> NewKey:
    """Decode a granted key strictly.

    Args:
        value: The JSON form (see :func:`new_key_to_dict`).
        field: Its path, to name in errors (``body.new_key``).

    Returns:
        The key.

    Raises:
        EncodingError: not an object; unknown, missing or mistyped fields; keys
            that are not 32 bytes of canonical base64; a non-canonical timestamp.
        SchemaViolationError: a malformed key id, or one that is not derived
            from the Ed25519 key (named under ``field``).
    """
    return _GRANTED.decode(value, At(field, WIRE_STYLE))


# --------------------------------------------------------------------------------------------------
# The signed command
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedCommand:
    """A member's command and its Ed25519 signature over the payload's canonical bytes.

    Construction validates everything but the signature itself (see
    :meth:`verify`): the payload's exact fields and their forms, and the
    signature's size. Two signed commands are equal when their canonical
    bytes and signatures are.

    Attributes:
        payload: The eight payload fields (``idempotency_key`` may be null),
            as parsed back from :attr:`canonical`; read-only by convention.
        signature: The 64-byte Ed25519 signature over :attr:`canonical`.
        canonical: The RFC 8785 canonical bytes of the payload (what is signed).
        digest: SHA-256 of :attr:`canonical`; a message's id is its hex.
        track: The track the command is for.
        command: The command's name (a key of :data:`COMMAND_NAMES`).
        member: The signer's member id (``party/name``).
        key_id: The signing key's id.
        issued_at: The signer's clock (UTC; recorded, not trusted).
        nonce: 8 to 128 characters of ``[A-Za-z0-9._~-]`` chosen by the signer.
        idempotency_key: The retry key, or ``None``.

    Raises:
        EncodingError: on construction, the first malformed field, named
            (``payload.nonce``, ``sig``...).
    """

    payload: Mapping[str, JSONValue] = field(compare=False)
    signature: bytes = field(repr=False)
    canonical: bytes = field(init=False, repr=False)
    digest: bytes = field(init=False, repr=False, compare=False)
    track: str = field(init=False, repr=False, compare=False)
    command: str = field(init=False, repr=False, compare=False)
    member: str = field(init=False, repr=False, compare=False)
    key_id: str = field(init=False, repr=False, compare=False)
    issued_at: datetime = field(init=False, repr=False, compare=False)
    nonce: str = field(init=False, repr=False, compare=False)
    idempotency_key: str | None = field(init=False, repr=False, compare=False)
    batch: BatchProof | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Canonicalize and validate the payload; derive the envelope fields."""
        signature: object = self.signature
        if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
            raise EncodingError("sig: expected a 64-byte Ed25519 signature")
        if self.batch is not None and self.batch.signature != signature:
            raise EncodingError("batch.signature: a batch-signed command's signature is its batch's")
        try:
            canonical = canonicalize(self.payload)
        except EncodingError as e:
            raise EncodingError(f"payload: {e}") from e
        # a private plain copy, exactly what was signed: canonicalize refused everything a strict
        # parser refuses (unsafe integers, NaN, lone surrogates; a dict has no duplicate keys)
        payload = json.loads(canonical)
        fields = Reader(payload, _PAYLOAD_FIELDS, At("payload", WIRE_STYLE))
        command = fields.read("command", _TEXT)
        if command not in COMMAND_NAMES:
            raise EncodingError(
                f"payload.command: unknown command {command[:80]!r} "
                f"(expected one of {', '.join(sorted(COMMAND_NAMES))})"
            )
        nonce = fields.read("nonce", _TEXT)
        if not _NONCE.fullmatch(nonce):
            raise EncodingError("payload.nonce: expected 8 to 128 characters of [A-Za-z0-9._~-]")
        fields.read("body", _OBJECT)
        assert isinstance(payload, dict)
        derived: dict[str, object] = {
            "payload": payload,
            "canonical": canonical,
            "digest": hashlib.sha256(canonical).digest(),
            "track": fields.read("track", Checked(check_track_id, _TEXT)),
            "command": command,
            "member": fields.read("member", Checked(check_member_id, _TEXT)),
            "key_id": fields.read("key_id", Checked(check_key_id, _TEXT)),
            "issued_at": fields.read("issued_at", Timestamp()),
            "nonce": nonce,
            "idempotency_key": fields.read(
                "idempotency_key", Optional(Checked(check_idempotency_key, _TEXT))
            ),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        """Hash what equality compares: the canonical bytes and the signature."""
        return hash((self.canonical, self.signature))

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form, ``{"payload", "sig"}`` (batch-signed: ``{"payload", "batch"}``); a fresh copy."""
        # the canonical bytes parse back to exactly the payload: a fresh copy at C speed
        payload: dict[str, JSONValue] = json.loads(self.canonical)
        if self.batch is not None:
            return {"payload": payload, "batch": self.batch.to_dict()}
        return {"payload": payload, "sig": b64encode(self.signature)}

    def wire_dict(self) -> dict[str, JSONValue]:
        """:meth:`to_dict` without copying the payload (it is shared: read-only, as :attr:`payload`)."""
        if self.batch is not None:
            return {"payload": self.payload, "batch": self.batch.to_dict()}
        return {"payload": self.payload, "sig": b64encode(self.signature)}

    def wire_bytes(self) -> bytes:
        """The canonical bytes of :meth:`to_dict`, spliced around :attr:`canonical` (never walked again).

        Keys sort ``"batch"`` < ``"payload"`` < ``"sig"`` (RFC 8785), so a batch-signed
        command's proof comes first and a single signature last.
        """
        if self.batch is not None:
            return b'{"batch":' + self.batch.to_bytes() + b',"payload":' + self.canonical + b"}"
        return (
            b'{"payload":' + self.canonical + b',"sig":"' + b64encode(self.signature).encode("ascii") + b'"}'
        )

    @classmethod
    def from_dict(cls, value: JSONValue) -> SignedCommand:
        """Decode the JSON form strictly (the signature is not verified: see :meth:`verify`).

        Raises:
            EncodingError: unknown or missing fields at either level, wrong
                types, a payload that does not canonicalize, an unknown command
                name, a malformed nonce, id or timestamp, or a signature that
                is not 64 bytes of canonical base64; the message names the field.
        """
        if isinstance(value, Mapping) and "batch" in value:  # batch-signed (ADR-0051)
            reader = Reader(value, _BATCH_SIGNED_FIELDS, At("", WIRE_STYLE), "batch-signed command")
            proof = BatchProof.from_dict(value["batch"])
            return cls(reader.read("payload", _OBJECT), proof.signature, batch=proof)
        reader = Reader(value, _SIGNED_FIELDS, At("", WIRE_STYLE), "signed command")
        signature = reader.read("sig", _TEXT)
        return cls(reader.read("payload", _OBJECT), b64decode(signature, field="sig", length=_SIGNATURE_SIZE))

    def verify(self, key: VerifyingKey) -> None:
        """Check that ``key`` is the key the payload names and that it signed the payload.

        Raises:
            VerificationError: a key with another id, or a signature that does not verify.
        """
        if key.key_id != self.key_id:
            raise VerificationError(
                f"{self.command} {self.digest.hex()} names key {self.key_id}, not {key.key_id}"
            )
        if self.batch is not None:
            try:
                self.batch.verify(self.digest, key)
            except VerificationError as e:
                raise VerificationError(f"{self.command} {self.digest.hex()} of {self.member}: {e}") from e
            return
        try:
            key.verify(self.signature, self.canonical)
        except VerificationError as e:
            raise VerificationError(
                f"{self.command} {self.digest.hex()}: the signature of {self.member} "
                f"does not verify under {self.key_id}"
            ) from e


def sign_command(  # noqa: PLR0913 - the payload's fields, by name
    key: SigningKey,
    *,
    track: str,
    command: str,
    member: str,
    body: Mapping[str, JSONValue],
    issued_at: datetime,
    nonce: str,
    idempotency_key: str | None = None,
) -> SignedCommand:
    """Build a command's payload and sign its canonical bytes with ``key``.

    Args:
        key: The member's signing key; the payload names its id.
        track: The track id.
        command: The command's name (a key of :data:`COMMAND_NAMES`).
        member: The signer's member id.
        body: The command's body (see :func:`command_body`).
        issued_at: A timezone-aware instant (sent as UTC text, microseconds kept).
        nonce: 8 to 128 characters of ``[A-Za-z0-9._~-]``, unique per command.
        idempotency_key: A retry key, or ``None``.

    Returns:
        The signed command.

    Raises:
        EncodingError: a naive ``issued_at``, a value canonical JSON cannot
            carry, or any malformed field (see :class:`SignedCommand`).
    """
    payload = command_payload(
        key.key_id,
        track=track,
        command=command,
        member=member,
        body=body,
        issued_at=issued_at,
        nonce=nonce,
        idempotency_key=idempotency_key,
    )
    try:
        canonical = canonicalize(payload)
    except EncodingError as e:
        raise EncodingError(f"payload: {e}") from e
    return SignedCommand(payload, key.sign(canonical))


def command_payload(  # noqa: PLR0913 - the payload's fields, by name
    key_id: str,
    *,
    track: str,
    command: str,
    member: str,
    body: Mapping[str, JSONValue],
    issued_at: datetime,
    nonce: str,
    idempotency_key: str | None = None,
) -> dict[str, JSONValue]:
    """A command's unsigned payload (see :func:`sign_command` for the arguments).

    Raises:
        EncodingError: a naive ``issued_at``.
    """
    if issued_at.utcoffset() is None:
        raise EncodingError("issued_at: expected a timezone-aware datetime")
    return {
        "track": track,
        "command": command,
        "member": member,
        "key_id": key_id,
        "issued_at": format_timestamp(issued_at),
        "nonce": nonce,
        "idempotency_key": idempotency_key,
        "body": body,
    }


def sign_batch(key: SigningKey, payloads: Sequence[Mapping[str, JSONValue]]) -> list[SignedCommand]:
    """Sign a batch of payloads (:func:`command_payload`) with one signature (ADR-0051).

    Each returned command carries its :class:`~backchannel.protocol.batch.BatchProof`
    instead of a signature of its own, and verifies on its own.

    Raises:
        EncodingError: no payloads or more than
            :data:`~backchannel.protocol.batch.MAX_BATCH_SIZE`, a payload that does
            not canonicalize, or any malformed field (named ``payloads.<i>...``).
    """
    canonical: list[bytes] = []
    for position, payload in enumerate(payloads):
        try:
            canonical.append(canonicalize(payload))
        except EncodingError as e:
            raise EncodingError(f"payloads.{position}: {e}") from e
    proofs = prove_batch(key, [hashlib.sha256(c).digest() for c in canonical])
    return [
        SignedCommand(payload, proof.signature, batch=proof)
        for payload, proof in zip(payloads, proofs, strict=True)
    ]


# --------------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------------


def to_domain(signed: SignedCommand) -> Command:
    """The domain command a signed command describes (its signature is not checked here).

    The envelope fields come from the payload (``digest`` is the signed
    command's); the rest from ``payload["body"]``, read field by field as the
    command's dataclass declares them. For ``propose_agenda``, ``draft_deal``,
    ``prepare_deal`` and ``open_escrow`` the digest is computed here
    (:func:`agenda_digest`, :func:`deal_hash`, :func:`escrow_digest`).

    Raises:
        EncodingError: unknown, missing or mistyped body fields, or malformed
            keys, digests or timestamps, naming the field (``body.<field>``).
        SchemaViolationError: the command's own shape checks (malformed ids,
            out-of-range numbers, unknown kinds, a malformed agenda).
    """
    envelope = {
        "track": signed.track,
        "member": signed.member,
        "key_id": signed.key_id,
        "issued_at": signed.issued_at,
        "digest": signed.digest,
        "idempotency_key": signed.idempotency_key,
    }
    return read_body(COMMAND_NAMES[signed.command], signed.payload["body"], envelope)
