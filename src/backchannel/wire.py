"""The signed-command wire format of ADR-0011: what a member signs, and its domain command.

A signed command is a JSON object of exactly two fields, ``{"payload": {...},
"sig": "<base64>"}``. The payload has exactly eight fields::

    {"track", "command", "member", "key_id", "issued_at", "nonce", "idempotency_key", "body"}

and ``sig`` is the member's Ed25519 signature over the payload's RFC 8785
canonical bytes. The SHA-256 of those bytes is the command's digest; a message's
id is the digest of the command that created it, in hex.

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
closed object (see :data:`COMMAND_NAMES` and the builders below): unknown,
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypedDict, TypeVar, cast

from backchannel.domain.agenda import Agenda
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.commitment_commands import PublishCommitment, RevealCommitment
from backchannel.domain.agreements.deal_commands import DraftDeal, PrepareDeal, ResolveDeal, VoteDeal
from backchannel.domain.agreements.deals import Deal, Vote
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.escrow_terms import EscrowTerms
from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.agreements.text_commands import CommentText, DraftText, EditText, SetTextPolicy
from backchannel.domain.agreements.text_model import TextPolicy
from backchannel.domain.commands import (
    AdmitParty,
    Command,
    DefineObligation,
    EnrollMember,
    ForwardMessage,
    OpenTrack,
    ProposeAgenda,
    RatifyAgenda,
    RecordConsumption,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    ReviewObligation,
    RevokeKey,
    RotateKey,
    SubmitMessage,
)
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.features import REGISTRY
from backchannel.domain.ids import (
    MessageKind,
    PartyKind,
    Priority,
    Role,
    check_idempotency_key,
    check_key_id,
    check_member_id,
    check_track_id,
)
from backchannel.domain.keys import NewKey
from backchannel.domain.receipts import ReceiptItem, receipt_items_from_json
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError, VerificationError
from backchannel.keyfile import KeyPair
from backchannel.log.canonical import canonicalize, loads_strict
from backchannel.log.records import format_timestamp, parse_timestamp
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode, b64encode

__all__ = [
    "COMMAND_NAMES",
    "SignedCommand",
    "agenda_digest",
    "command_body",
    "deal_hash",
    "enrolment_key",
    "escrow_digest",
    "new_key_from_dict",
    "new_key_to_dict",
    "receipt_digest",
    "sign_command",
    "to_domain",
]

_SIGNED_FIELDS = frozenset({"payload", "sig"})
_PAYLOAD_FIELDS = frozenset(
    {"track", "command", "member", "key_id", "issued_at", "nonce", "idempotency_key", "body"}
)
_KEY_FIELDS = frozenset({"key_id", "ed25519", "x25519", "expires_at"})
_NONCE = re.compile(r"[A-Za-z0-9._~-]{8,128}")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_SIZE = 64
_KEY_SIZE = 32

E = TypeVar("E", bound=StrEnum)
C = TypeVar("C", bound=Command)


# --------------------------------------------------------------------------------------------------
# Strict field reading
# --------------------------------------------------------------------------------------------------


_JSON_TYPES: tuple[tuple[type[object], str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (Mapping, "an object"),
)


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type (for error messages)."""
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "an array")


class _Fields:
    """One closed JSON object, read field by field; every error names the field's path.

    Args:
        raw: The value to read; must be an object.
        fields: Its exact field names.
        where: Its path (``payload``, ``body``, ``body.new_key``), or ``""`` at the top.
        what: How to call the object in errors when ``where`` is empty.

    Raises:
        EncodingError: not an object, or unknown or missing fields (each named).
    """

    def __init__(self, raw: JSONValue, fields: frozenset[str], where: str, what: str = "") -> None:
        """Check the object's shape (see the class docstring)."""
        label = where or what
        if not isinstance(raw, Mapping):
            raise EncodingError(f"{label}: expected a JSON object, got {_json_type(raw)}")
        self._raw = raw
        self._where = where
        if unknown := set(raw) - fields:
            names = ", ".join(self.path(name) for name in sorted(unknown))
            raise EncodingError(f"{label}: unknown field(s) {names} (the object is closed)")
        if missing := fields - set(raw):
            names = ", ".join(self.path(name) for name in sorted(missing))
            raise EncodingError(f"{label}: missing field(s) {names}")

    def path(self, name: str) -> str:
        """The dotted path of field ``name``."""
        return f"{self._where}.{name}" if self._where else name

    def raw(self, name: str) -> JSONValue:
        """The field's value, unchecked."""
        return self._raw[name]

    def _fail(self, name: str, expected: str, value: JSONValue) -> EncodingError:
        return EncodingError(f"{self.path(name)}: expected {expected}, got {_json_type(value)}")

    def text(self, name: str) -> str:
        """A string (its form is the domain's to check)."""
        value = self._raw[name]
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def optional_text(self, name: str) -> str | None:
        """A string or ``None`` for JSON null."""
        return None if self._raw[name] is None else self.text(name)

    def checked(self, name: str, check: Callable[[object, str], list[Violation]]) -> str:
        """A string that ``check`` (an ``ids.check_*``) accepts."""
        value = self.text(name)
        violations = check(value, self.path(name))
        if violations:
            raise EncodingError(violations[0].message)
        return value

    def integer(self, name: str) -> int:
        """An integer, not a boolean (its range is the domain's to check)."""
        value = self._raw[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(name, "an integer", value)
        return value

    def optional_integer(self, name: str) -> int | None:
        """An integer or ``None`` for JSON null."""
        return None if self._raw[name] is None else self.integer(name)

    def obj(self, name: str) -> Mapping[str, JSONValue]:
        """A JSON object."""
        value = self._raw[name]
        if not isinstance(value, Mapping):
            raise self._fail(name, "a JSON object", value)
        return value

    def _array(self, name: str) -> Sequence[JSONValue]:
        value = self._raw[name]
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self._fail(name, "an array", value)
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        """An array of strings."""
        out: list[str] = []
        for index, item in enumerate(self._array(name)):
            if not isinstance(item, str):
                raise EncodingError(f"{self.path(name)}.{index}: expected a string, got {_json_type(item)}")
            out.append(item)
        return tuple(out)

    def digest(self, name: str) -> bytes:
        """32 bytes as 64 lowercase hex digits."""
        return _hex32(self._raw[name], self.path(name))

    def digests(self, name: str) -> tuple[bytes, ...]:
        """An array of 32-byte values, each as 64 lowercase hex digits."""
        path = self.path(name)
        return tuple(_hex32(item, f"{path}.{index}") for index, item in enumerate(self._array(name)))

    def key(self, name: str) -> bytes:
        """A 32-byte public key in canonical standard base64."""
        value = self._raw[name]
        if not isinstance(value, str):
            raise self._fail(name, "base64 text", value)
        return b64decode(value, field=self.path(name), length=_KEY_SIZE)

    def timestamp(self, name: str) -> datetime:
        """A canonical UTC timestamp (``YYYY-MM-DDTHH:MM:SS.ffffffZ``)."""
        return parse_timestamp(self.text(name), field=self.path(name))

    def optional_timestamp(self, name: str) -> datetime | None:
        """A canonical UTC timestamp or ``None`` for JSON null."""
        return None if self._raw[name] is None else self.timestamp(name)

    def kind(self, name: str, kind: type[E]) -> E:
        """A string meant as a value of ``kind``.

        A string that is not one of the values is passed on as it is: the
        command refuses it with a field-level ``one_of`` violation (and stores
        every accepted value as the enum member).
        """
        value = self.text(name)
        return kind(value) if value in {member.value for member in kind} else cast("E", value)

    def new_key(self, name: str) -> NewKey:
        """A granted key (see :func:`new_key_from_dict`)."""
        return new_key_from_dict(self._raw[name], self.path(name))


def _hex32(value: JSONValue, path: str) -> bytes:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        shown = repr(value)[:80] if isinstance(value, str) else _json_type(value)
        raise EncodingError(f"{path}: expected 64 lowercase hex digits, got {shown}")
    return bytes.fromhex(value)


def _plain(value: JSONValue) -> JSONValue:
    """A copy of a (possibly frozen) JSON value as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------------
# Keys and agendas
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
    return {
        "key_id": key.key_id,
        "ed25519": b64encode(key.ed25519),
        "x25519": b64encode(key.x25519),
        "expires_at": None if key.expires_at is None else format_timestamp(key.expires_at),
    }


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
    reader = _Fields(value, _KEY_FIELDS, field)
    key_id = reader.text("key_id")
    ed25519, x25519 = reader.key("ed25519"), reader.key("x25519")
    expires_at = reader.optional_timestamp("expires_at")
    try:
        return NewKey(key_id, ed25519, x25519, expires_at)
    except SchemaViolationError as e:  # NewKey names its fields "key.*": name them where they are
        raise SchemaViolationError([_moved(v, "key", field) for v in e.violations]) from e


def _moved(violation: Violation, old: str, new: str) -> Violation:
    """The violation with its field path (and message prefix) ``old`` renamed ``new``."""
    return Violation(
        new + violation.field.removeprefix(old),
        violation.rule,
        new + violation.message.removeprefix(old),
    )


def agenda_digest(agenda: Agenda) -> bytes:
    """SHA-256 of the canonical JSON of ``agenda.to_dict()``: what ratifications name."""
    return hashlib.sha256(canonicalize(agenda.to_dict())).digest()


def deal_hash(deal: Deal) -> bytes:
    """SHA-256 of the canonical JSON of ``deal.to_dict()``: what a deal's voters sign (issue #4)."""
    return hashlib.sha256(canonicalize(deal.to_dict())).digest()


def escrow_digest(terms: EscrowTerms) -> bytes:
    """SHA-256 of the canonical JSON of ``terms.to_dict()``: what release signatures name (ADR-0017)."""
    return hashlib.sha256(canonicalize(terms.to_dict())).digest()


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

    def __post_init__(self) -> None:
        """Canonicalize and validate the payload; derive the envelope fields."""
        signature: object = self.signature
        if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
            raise EncodingError("sig: expected a 64-byte Ed25519 signature")
        try:
            canonical = canonicalize(self.payload)
        except EncodingError as e:
            raise EncodingError(f"payload: {e}") from e
        payload = loads_strict(canonical)  # a private plain copy, exactly what was signed
        fields = _Fields(payload, _PAYLOAD_FIELDS, "payload")
        command = fields.text("command")
        if command not in COMMAND_NAMES:
            raise EncodingError(
                f"payload.command: unknown command {command[:80]!r} "
                f"(expected one of {', '.join(sorted(COMMAND_NAMES))})"
            )
        nonce = fields.text("nonce")
        if not _NONCE.fullmatch(nonce):
            raise EncodingError("payload.nonce: expected 8 to 128 characters of [A-Za-z0-9._~-]")
        fields.obj("body")
        assert isinstance(payload, dict)
        derived: dict[str, object] = {
            "payload": payload,
            "canonical": canonical,
            "digest": hashlib.sha256(canonical).digest(),
            "track": fields.checked("track", check_track_id),
            "command": command,
            "member": fields.checked("member", check_member_id),
            "key_id": fields.checked("key_id", check_key_id),
            "issued_at": fields.timestamp("issued_at"),
            "nonce": nonce,
            "idempotency_key": (
                None
                if fields.raw("idempotency_key") is None
                else fields.checked("idempotency_key", check_idempotency_key)
            ),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        """Hash what equality compares: the canonical bytes and the signature."""
        return hash((self.canonical, self.signature))

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form, ``{"payload": {...}, "sig": "<base64>"}`` (a fresh copy)."""
        # the canonical bytes parse back to exactly the payload: a fresh copy at C speed
        payload: dict[str, JSONValue] = json.loads(self.canonical)
        return {"payload": payload, "sig": b64encode(self.signature)}

    @classmethod
    def from_dict(cls, value: JSONValue) -> SignedCommand:
        """Decode the JSON form strictly (the signature is not verified: see :meth:`verify`).

        Raises:
            EncodingError: unknown or missing fields at either level, wrong
                types, a payload that does not canonicalize, an unknown command
                name, a malformed nonce, id or timestamp, or a signature that
                is not 64 bytes of canonical base64; the message names the field.
        """
        reader = _Fields(value, _SIGNED_FIELDS, "", "signed command")
        signature = reader.text("sig")
        return cls(reader.obj("payload"), b64decode(signature, field="sig", length=_SIGNATURE_SIZE))

    def verify(self, key: VerifyingKey) -> None:
        """Check that ``key`` is the key the payload names and that it signed the payload.

        Raises:
            VerificationError: a key with another id, or a signature that does not verify.
        """
        if key.key_id != self.key_id:
            raise VerificationError(
                f"{self.command} {self.digest.hex()} names key {self.key_id}, not {key.key_id}"
            )
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
    if issued_at.utcoffset() is None:
        raise EncodingError("issued_at: expected a timezone-aware datetime")
    payload: dict[str, JSONValue] = {
        "track": track,
        "command": command,
        "member": member,
        "key_id": key.key_id,
        "issued_at": format_timestamp(issued_at),
        "nonce": nonce,
        "idempotency_key": idempotency_key,
        "body": body,
    }
    try:
        canonical = canonicalize(payload)
    except EncodingError as e:
        raise EncodingError(f"payload: {e}") from e
    return SignedCommand(payload, key.sign(canonical))


# --------------------------------------------------------------------------------------------------
# Bodies: one codec per command
# --------------------------------------------------------------------------------------------------


class _Envelope(TypedDict):
    """The fields every domain command takes from the signed envelope."""

    track: str
    member: str
    key_id: str
    issued_at: datetime
    digest: bytes
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class _Codec(Generic[C]):
    """How one command's body is read (``decode``) and written (``encode``)."""

    name: str
    type: type[C]
    fields: frozenset[str]
    decode: Callable[[_Fields, _Envelope], C]
    encode: Callable[[C], dict[str, JSONValue]]


def _open_track(body: _Fields, envelope: _Envelope) -> OpenTrack:
    return OpenTrack(
        **envelope,
        title=body.text("title"),
        principal_key=body.new_key("principal_key"),
        service_key=body.new_key("service_key"),
    )


def _admit_party(body: _Fields, envelope: _Envelope) -> AdmitParty:
    return AdmitParty(
        **envelope,
        party=body.text("party"),
        kind=body.kind("kind", PartyKind),
        principal=body.text("principal"),
        principal_key=body.new_key("principal_key"),
    )


def _enroll_member(body: _Fields, envelope: _Envelope) -> EnrollMember:
    return EnrollMember(
        **envelope,
        new_member=body.text("new_member"),
        role=body.kind("role", Role),
        new_key=body.new_key("new_key"),
    )


def _rotate_key(body: _Fields, envelope: _Envelope) -> RotateKey:
    return RotateKey(
        **envelope,
        subject=body.text("subject"),
        old_key_id=body.text("old_key_id"),
        new_key=body.new_key("new_key"),
    )


def _revoke_key(body: _Fields, envelope: _Envelope) -> RevokeKey:
    return RevokeKey(**envelope, subject=body.text("subject"), revoked_key_id=body.text("revoked_key_id"))


def _propose_agenda(body: _Fields, envelope: _Envelope) -> ProposeAgenda:
    agenda = Agenda.from_dict(body.obj("agenda"))
    return ProposeAgenda(**envelope, agenda=agenda, agenda_digest=agenda_digest(agenda))


def _ratify_agenda(body: _Fields, envelope: _Envelope) -> RatifyAgenda:
    return RatifyAgenda(
        **envelope, version=body.integer("version"), agenda_digest=body.digest("agenda_digest")
    )


def _submit_message(body: _Fields, envelope: _Envelope) -> SubmitMessage:
    return SubmitMessage(
        **envelope,
        kind=body.kind("kind", MessageKind),
        body=body.obj("body"),
        priority=body.kind("priority", Priority),
        in_reply_to=body.optional_text("in_reply_to"),
        annexes=body.digests("annexes"),
        agenda_version=body.optional_integer("agenda_version"),
    )


def _forward_message(body: _Fields, envelope: _Envelope) -> ForwardMessage:
    return ForwardMessage(**envelope, message_id=body.text("message_id"), to_parties=body.texts("to_parties"))


def _reframe_message(body: _Fields, envelope: _Envelope) -> ReframeMessage:
    return ReframeMessage(
        **envelope,
        message_id=body.text("message_id"),
        to_parties=body.texts("to_parties"),
        body=body.obj("body"),
        annexes=body.digests("annexes"),
        agenda_version=body.optional_integer("agenda_version"),
    )


def _record_receipt(body: _Fields, envelope: _Envelope) -> RecordReceipt:
    command = RecordReceipt(
        **envelope,
        items=receipt_items_from_json(body.raw("items"), body.path("items")),
        receipt_digest=body.digest("receipt_digest"),
    )
    expected = receipt_digest(command.items)
    if command.receipt_digest != expected:
        raise SchemaViolationError(
            [
                Violation(
                    "receipt_digest",
                    "digest",
                    "receipt_digest: expected SHA-256 of the RFC 8785 canonical JSON array of the items "
                    f"sorted by message id ({expected.hex()}), got {command.receipt_digest.hex()}",
                )
            ]
        )
    return command


def receipt_digest(items: Iterable[ReceiptItem]) -> bytes:
    """The ``receipt_digest`` a receipt for ``items`` must carry.

    SHA-256 of the RFC 8785 canonical JSON array of the items'
    ``[message_id, log_index]`` pairs, sorted by message id::

        sha256(canonicalize([["<id a>", 17], ["<id b>", 21]]))

    Raises:
        EncodingError: a log index canonical JSON cannot carry exactly (beyond 2^53).
    """
    pairs: list[JSONValue] = [item.to_json() for item in sorted(items, key=lambda item: item.message_id)]
    return hashlib.sha256(canonicalize(pairs)).digest()


def _record_dead_letter(body: _Fields, envelope: _Envelope) -> RecordDeadLetter:
    return RecordDeadLetter(
        **envelope,
        message_id=body.text("message_id"),
        party=body.text("party"),
        attempts=body.integer("attempts"),
        reason=body.text("reason"),
    )


def _record_escalation(body: _Fields, envelope: _Envelope) -> RecordEscalation:
    return RecordEscalation(
        **envelope,
        message_id=body.text("message_id"),
        party=body.text("party"),
        level=body.integer("level"),
        to=body.texts("to"),
    )


def _deal_of(body: _Fields) -> Deal:
    return Deal.from_dict(body.obj("deal"))


def _draft_deal(body: _Fields, envelope: _Envelope) -> DraftDeal:
    deal = _deal_of(body)
    return DraftDeal(**envelope, deal=deal, deal_hash=deal_hash(deal))


def _prepare_deal(body: _Fields, envelope: _Envelope) -> PrepareDeal:
    deal = _deal_of(body)
    return PrepareDeal(**envelope, deal=deal, deal_hash=deal_hash(deal), deadline=body.timestamp("deadline"))


def _vote_deal(body: _Fields, envelope: _Envelope) -> VoteDeal:
    return VoteDeal(
        **envelope,
        deal_id=body.text("deal_id"),
        deal_hash=body.digest("deal_hash"),
        vote=body.kind("vote", Vote),
    )


def _resolve_deal(body: _Fields, envelope: _Envelope) -> ResolveDeal:
    return ResolveDeal(**envelope, deal_id=body.text("deal_id"))


def _publish_commitment(body: _Fields, envelope: _Envelope) -> PublishCommitment:
    return PublishCommitment(**envelope, label=body.text("label"), commitment=body.digest("commitment"))


_EVEN_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def _reveal_commitment(body: _Fields, envelope: _Envelope) -> RevealCommitment:
    salt = body.text("salt")
    if not _EVEN_HEX.fullmatch(salt):
        raise EncodingError(f"{body.path('salt')}: expected bytes as lowercase hex")
    return RevealCommitment(
        **envelope,
        commitment_id=body.text("commitment_id"),
        salt=bytes.fromhex(salt),
        content=body.text("content"),
    )


def _number(body: _Fields, name: str) -> float:
    """A JSON number, not a boolean (finiteness, range and precision are the domain's to check)."""
    value = body.raw(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise EncodingError(f"{body.path(name)}: expected a number, got {_json_type(value)}")
    return value


def _define_metric(body: _Fields, envelope: _Envelope) -> DefineMetric:
    return DefineMetric(
        **envelope,
        metric=body.text("metric"),
        unit=body.text("unit"),
        issue=body.optional_text("issue"),
        inspectors=body.texts("inspectors"),
        quorum=body.integer("quorum"),
        tolerance=_number(body, "tolerance"),
        tolerance_kind=body.kind("tolerance_kind", ToleranceKind),
        window_seconds=body.integer("window_seconds"),
    )


def _file_attestation(body: _Fields, envelope: _Envelope) -> FileAttestation:
    return FileAttestation(
        **envelope,
        metric=body.text("metric"),
        value=_number(body, "value"),
        unit=body.text("unit"),
        observed_at=body.timestamp("observed_at"),
        site=body.text("site"),
    )


def _open_escrow(body: _Fields, envelope: _Envelope) -> OpenEscrow:
    terms = EscrowTerms.from_dict(dict(body.obj("terms")), "body.terms")
    return OpenEscrow(**envelope, terms=terms, escrow_digest=escrow_digest(terms))


def _draft_text(body: _Fields, envelope: _Envelope) -> DraftText:
    return DraftText(**envelope, doc=body.text("doc"), title=body.text("title"), text=body.text("text"))


def _edit_text(body: _Fields, envelope: _Envelope) -> EditText:
    return EditText(
        **envelope, doc=body.text("doc"), base_version=body.integer("base_version"), text=body.text("text")
    )


def _set_text_policy(body: _Fields, envelope: _Envelope) -> SetTextPolicy:
    return SetTextPolicy(**envelope, policy=body.kind("policy", TextPolicy))


def _comment_text(body: _Fields, envelope: _Envelope) -> CommentText:
    return CommentText(
        **envelope, doc=body.text("doc"), version=body.integer("version"), text=body.text("text")
    )


def _define_obligation(body: _Fields, envelope: _Envelope) -> DefineObligation:
    return DefineObligation(
        **envelope,
        obligation=body.text("obligation"),
        party=body.text("party"),
        metric=body.text("metric"),
        unit=body.text("unit"),
        rate=_number(body, "rate"),
        burst=_number(body, "burst"),
        period_seconds=body.integer("period_seconds"),
        ladder=body.texts("ladder"),
        hold_seconds=body.integer("hold_seconds"),
        recovery_pct=body.integer("recovery_pct"),
        shared_with=body.texts("shared_with"),
    )


def _record_consumption(body: _Fields, envelope: _Envelope) -> RecordConsumption:
    return RecordConsumption(
        **envelope,
        obligation=body.text("obligation"),
        amount=_number(body, "amount"),
        unit=body.text("unit"),
        observed_at=body.timestamp("observed_at"),
        source=body.optional_text("source"),
    )


def _codec(
    kind: type[C],
    fields: str,
    decode: Callable[[_Fields, _Envelope], C],
    encode: Callable[[C], dict[str, JSONValue]],
) -> _Codec[C]:
    """The codec of registered command ``kind`` (its wire name is the one its feature declares)."""
    return _Codec(REGISTRY.command_rule(kind).name, kind, frozenset(fields.split()), decode, encode)


_CODECS: tuple[_Codec[Any], ...] = (
    _codec(
        OpenTrack,
        "title principal_key service_key",
        _open_track,
        lambda c: {
            "title": c.title,
            "principal_key": new_key_to_dict(c.principal_key),
            "service_key": new_key_to_dict(c.service_key),
        },
    ),
    _codec(
        AdmitParty,
        "party kind principal principal_key",
        _admit_party,
        lambda c: {
            "party": c.party,
            "kind": c.kind.value,
            "principal": c.principal,
            "principal_key": new_key_to_dict(c.principal_key),
        },
    ),
    _codec(
        EnrollMember,
        "new_member role new_key",
        _enroll_member,
        lambda c: {"new_member": c.new_member, "role": c.role.value, "new_key": new_key_to_dict(c.new_key)},
    ),
    _codec(
        RotateKey,
        "subject old_key_id new_key",
        _rotate_key,
        lambda c: {"subject": c.subject, "old_key_id": c.old_key_id, "new_key": new_key_to_dict(c.new_key)},
    ),
    _codec(
        RevokeKey,
        "subject revoked_key_id",
        _revoke_key,
        lambda c: {"subject": c.subject, "revoked_key_id": c.revoked_key_id},
    ),
    _codec(ProposeAgenda, "agenda", _propose_agenda, lambda c: {"agenda": c.agenda.to_dict()}),
    _codec(
        RatifyAgenda,
        "version agenda_digest",
        _ratify_agenda,
        lambda c: {"version": c.version, "agenda_digest": c.agenda_digest.hex()},
    ),
    _codec(
        SubmitMessage,
        "kind body priority in_reply_to annexes agenda_version",
        _submit_message,
        lambda c: {
            "kind": c.kind.value,
            "body": _plain(c.body),
            "priority": c.priority.value,
            "in_reply_to": c.in_reply_to,
            "annexes": [a.hex() for a in c.annexes],
            "agenda_version": c.agenda_version,
        },
    ),
    _codec(
        ForwardMessage,
        "message_id to_parties",
        _forward_message,
        lambda c: {"message_id": c.message_id, "to_parties": list(c.to_parties)},
    ),
    _codec(
        ReframeMessage,
        "message_id to_parties body annexes agenda_version",
        _reframe_message,
        lambda c: {
            "message_id": c.message_id,
            "to_parties": list(c.to_parties),
            "body": _plain(c.body),
            "annexes": [a.hex() for a in c.annexes],
            "agenda_version": c.agenda_version,
        },
    ),
    _codec(
        RecordReceipt,
        "items receipt_digest",
        _record_receipt,
        lambda c: {"items": [item.to_json() for item in c.items], "receipt_digest": c.receipt_digest.hex()},
    ),
    _codec(
        RecordDeadLetter,
        "message_id party attempts reason",
        _record_dead_letter,
        lambda c: {"message_id": c.message_id, "party": c.party, "attempts": c.attempts, "reason": c.reason},
    ),
    _codec(
        RecordEscalation,
        "message_id party level to",
        _record_escalation,
        lambda c: {"message_id": c.message_id, "party": c.party, "level": c.level, "to": list(c.to)},
    ),
    _codec(
        DefineMetric,
        "metric unit issue inspectors quorum tolerance tolerance_kind window_seconds",
        _define_metric,
        lambda c: {
            "metric": c.metric,
            "unit": c.unit,
            "issue": c.issue,
            "inspectors": list(c.inspectors),
            "quorum": c.quorum,
            "tolerance": c.tolerance,
            "tolerance_kind": c.tolerance_kind.value,
            "window_seconds": c.window_seconds,
        },
    ),
    _codec(
        FileAttestation,
        "metric value unit observed_at site",
        _file_attestation,
        lambda c: {
            "metric": c.metric,
            "value": c.value,
            "unit": c.unit,
            "observed_at": format_timestamp(c.observed_at),
            "site": c.site,
        },
    ),
    _codec(OpenEscrow, "terms", _open_escrow, lambda c: {"terms": c.terms.to_dict()}),
    _codec(
        SignEscrowRelease,
        "escrow_id escrow_digest",
        lambda b, e: SignEscrowRelease(
            **e, escrow_id=b.text("escrow_id"), escrow_digest=b.digest("escrow_digest")
        ),
        lambda c: {"escrow_id": c.escrow_id, "escrow_digest": c.escrow_digest.hex()},
    ),
    _codec(
        ReleaseEscrow,
        "escrow_id",
        lambda b, e: ReleaseEscrow(**e, escrow_id=b.text("escrow_id")),
        lambda c: {"escrow_id": c.escrow_id},
    ),
    _codec(
        ExpireEscrow,
        "escrow_id",
        lambda b, e: ExpireEscrow(**e, escrow_id=b.text("escrow_id")),
        lambda c: {"escrow_id": c.escrow_id},
    ),
)
_CODECS += (  # agreements (issue #4)
    _codec(DraftDeal, "deal", _draft_deal, lambda c: {"deal": c.deal.to_dict()}),
    _codec(
        PrepareDeal,
        "deal deadline",
        _prepare_deal,
        lambda c: {"deal": c.deal.to_dict(), "deadline": format_timestamp(c.deadline)},
    ),
    _codec(
        VoteDeal,
        "deal_id deal_hash vote",
        _vote_deal,
        lambda c: {"deal_id": c.deal_id, "deal_hash": c.deal_hash.hex(), "vote": c.vote.value},
    ),
    _codec(ResolveDeal, "deal_id", _resolve_deal, lambda c: {"deal_id": c.deal_id}),
    _codec(
        PublishCommitment,
        "label commitment",
        _publish_commitment,
        lambda c: {"label": c.label, "commitment": c.commitment.hex()},
    ),
    _codec(
        RevealCommitment,
        "commitment_id salt content",
        _reveal_commitment,
        lambda c: {"commitment_id": c.commitment_id, "salt": c.salt.hex(), "content": c.content},
    ),
    _codec(
        DraftText,
        "doc title text",
        _draft_text,
        lambda c: {"doc": c.doc, "title": c.title, "text": c.text},
    ),
    _codec(
        EditText,
        "doc base_version text",
        _edit_text,
        lambda c: {"doc": c.doc, "base_version": c.base_version, "text": c.text},
    ),
    _codec(SetTextPolicy, "policy", _set_text_policy, lambda c: {"policy": c.policy.value}),
    _codec(
        CommentText,
        "doc version text",
        _comment_text,
        lambda c: {"doc": c.doc, "version": c.version, "text": c.text},
    ),
    _codec(
        DefineObligation,
        "obligation party metric unit rate burst period_seconds ladder hold_seconds recovery_pct shared_with",
        _define_obligation,
        lambda c: {
            "obligation": c.obligation,
            "party": c.party,
            "metric": c.metric,
            "unit": c.unit,
            "rate": c.rate,
            "burst": c.burst,
            "period_seconds": c.period_seconds,
            "ladder": list(c.ladder),
            "hold_seconds": c.hold_seconds,
            "recovery_pct": c.recovery_pct,
            "shared_with": list(c.shared_with),
        },
    ),
    _codec(
        RecordConsumption,
        "obligation amount unit observed_at source",
        _record_consumption,
        lambda c: {
            "obligation": c.obligation,
            "amount": c.amount,
            "unit": c.unit,
            "observed_at": format_timestamp(c.observed_at),
            "source": c.source,
        },
    ),
    _codec(
        ReviewObligation,
        "obligation",
        lambda body, envelope: ReviewObligation(**envelope, obligation=body.text("obligation")),
        lambda c: {"obligation": c.obligation},
    ),
)
_BY_NAME: dict[str, _Codec[Any]] = {codec.name: codec for codec in _CODECS}
_BY_TYPE: dict[type[Command], _Codec[Any]] = {codec.type: codec for codec in _CODECS}

if set(_BY_TYPE) != set(REGISTRY.commands.values()):  # pragma: no cover - a codec is missing: fail at import
    raise ImportError(f"commands without a wire codec: {set(REGISTRY.commands.values()) - set(_BY_TYPE)}")

COMMAND_NAMES: dict[str, type[Command]] = dict(REGISTRY.commands)
"""Each command's wire name (``payload.command``) and its domain class, as the features register them."""


def to_domain(signed: SignedCommand) -> Command:
    """The domain command a signed command describes (its signature is not checked here).

    The envelope fields come from the payload (``digest`` is the signed
    command's); the rest from ``payload["body"]``. For ``propose_agenda`` the
    ``agenda_digest`` is computed with :func:`agenda_digest`.

    Raises:
        EncodingError: unknown, missing or mistyped body fields, or malformed
            keys, digests or timestamps, naming the field (``body.<field>``).
        SchemaViolationError: the command's own shape checks (malformed ids,
            out-of-range numbers, unknown kinds, a malformed agenda).
    """
    codec = _BY_NAME[signed.command]
    envelope = _Envelope(
        track=signed.track,
        member=signed.member,
        key_id=signed.key_id,
        issued_at=signed.issued_at,
        digest=signed.digest,
        idempotency_key=signed.idempotency_key,
    )
    body = _Fields(signed.payload["body"], codec.fields, "body")
    command: Command = codec.decode(body, envelope)
    return command


def command_body(command: Command) -> dict[str, JSONValue]:
    """The JSON body of a domain command (the inverse of :func:`to_domain`).

    ``to_domain(sign_command(..., command=<its name>, body=command_body(c)))``
    is ``c`` again, except for the envelope fields, which the signed command
    supplies.

    Raises:
        EncodingError: ``command`` is not one of the domain's commands.
    """
    codec = _BY_TYPE.get(type(command))
    if codec is None:
        raise EncodingError(f"not a command: {type(command).__name__}")
    body: dict[str, JSONValue] = codec.encode(command)
    return body
